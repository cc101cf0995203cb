rule ensemble_predictions:
    input:
        members=ensemble_member_predictions,
        labels=challenge_labels,
    output:
        "results/predictions/{task}/{ensemble}.parquet",
    log:
        "logs/ensemble_predictions/{task}/{ensemble}.log",
    benchmark:
        "logs/benchmarks/ensemble_predictions/{task}/{ensemble}.tsv"
    wildcard_constraints:
        task="|".join([*TASKS, MTL]),  # mtl: the members' MTL-challenge predictions
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        members=ensemble_members,
        weights=ensemble_weights,
        tasks=challenge_tasks,
        postprocess=ensemble_postprocess,
        code=script_fingerprint("ensemble_predictions.py"),
    script:
        "../workflow_scripts/ensemble_predictions.py"

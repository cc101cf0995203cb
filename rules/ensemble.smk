rule ensemble_predictions:
    input:
        members=ensemble_member_predictions,
        labels="results/index/labels_{task}.parquet",
    output:
        "results/predictions/{task}/{ensemble}.parquet",
    log:
        "logs/ensemble_predictions/{task}/{ensemble}.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        members=ensemble_members,
        weights=ensemble_weights,
        postprocess=ensemble_postprocess,
        code=script_fingerprint("ensemble_predictions.py"),
    script:
        "../workflow_scripts/ensemble_predictions.py"

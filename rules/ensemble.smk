rule ensemble_predictions:
    input:
        ensemble_member_predictions,
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
        members=lambda wildcards: ENSEMBLES[wildcards.ensemble]["members"],
        weights=lambda wildcards: ENSEMBLES[wildcards.ensemble]["weights"],
        code=script_fingerprint("ensemble_predictions.py"),
    script:
        "../workflow_scripts/ensemble_predictions.py"

rule evaluate_validation:
    input:
        predictions=expand("results/predictions/{task}.parquet", task=TASKS),
        labels=expand("results/index/labels_{task}.parquet", task=TASKS),
    output:
        "results/metrics/validation.csv",
    log:
        "logs/evaluate_validation.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        tasks=TASKS,
    script:
        "../workflow_scripts/evaluate_validation.py"


rule write_submission:
    input:
        predictions="results/predictions/{task}.parquet",
        splits="results/index/splits.parquet",
    output:
        "results/submission/{task}.txt",
    log:
        "logs/write_submission/{task}.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../workflow_scripts/write_submission.py"

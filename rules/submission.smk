rule evaluate_validation:
    input:
        predictions=all_predictions(),
        labels=expand("results/index/labels_{task}.parquet", task=TASKS),
    output:
        scores="results/metrics/validation.csv",
        tables_csv=expand("results/metrics/{task}.csv", task=TASKS),
        tables_markdown=expand("results/metrics/{task}.md", task=TASKS),
    log:
        "logs/evaluate_validation.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        trained=[list(pair) for pair in PLAN.scored],
        tasks=TASKS,
        submitted=canonical(PLAN.submitted),
        code=script_fingerprint("evaluate_validation.py"),
    script:
        "../workflow_scripts/evaluate_validation.py"


rule write_submission:
    input:
        predictions=submitted_predictions,
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
    params:
        layout="abaw5",
        code=script_fingerprint("write_submission.py"),
    script:
        "../workflow_scripts/write_submission.py"


rule write_submission_per_video:
    input:
        predictions=submitted_predictions,
        splits="results/index/splits.parquet",
    output:
        directory("results/submission/abaw3/{task}"),
    log:
        "logs/write_submission_per_video/{task}.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        layout="abaw3",
        code=script_fingerprint("write_submission.py"),
    script:
        "../workflow_scripts/write_submission.py"

# The run report: `snakemake --report report.html` after a run gathers these figures and tables with the
# workflow description (report/workflow.rst) and Snakemake's own runtime statistics.


rule plot_learning_curves:
    input:
        experiment_histories,
    output:
        report(
            "results/report/learning_curves/{experiment}.png",
            caption="../report/learning_curves.rst",
            category="Learning curves",
            labels={"experiment": "{experiment}"},
        ),
    log:
        "logs/plot_learning_curves/{experiment}.log",
    benchmark:
        "logs/benchmarks/plot_learning_curves/{experiment}.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=script_fingerprint("plot_learning_curves.py"),
    script:
        "../workflow_scripts/plot_learning_curves.py"


rule plot_validation:
    input:
        predictions=submitted_predictions,
        labels="results/aff_wild2/index/labels_{task}.parquet",
    output:
        report(
            "results/report/validation/{task}.png",
            caption="../report/validation.rst",
            category="Validation",
            labels={"task": "{task}"},
        ),
    log:
        "logs/plot_validation/{task}.log",
    benchmark:
        "logs/benchmarks/plot_validation/{task}.tsv"
    wildcard_constraints:
        task="|".join(AFF_WILD2_TASKS) or "(?!)",
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        submitted=submitted_name,
        code=script_fingerprint("plot_validation.py"),
    script:
        "../workflow_scripts/plot_validation.py"


rule plot_face_detection:
    input:
        face_tables_of_dataset,
    output:
        report(
            "results/report/faces/{dataset}.png",
            caption="../report/faces.rst",
            category="Faces",
            labels={"dataset": "{dataset}"},
        ),
    log:
        "logs/plot_face_detection/{dataset}.log",
    benchmark:
        "logs/benchmarks/plot_face_detection/{dataset}.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        code=script_fingerprint("plot_face_detection.py"),
    script:
        "../workflow_scripts/plot_face_detection.py"


rule write_score_table:
    input:
        "results/metrics/{challenge}.csv",
    output:
        report(
            "results/report/scores/{challenge}.html",
            caption="../report/scores.rst",
            category="Scores",
            labels={"challenge": "{challenge}"},
        ),
    log:
        "logs/write_score_table/{challenge}.log",
    benchmark:
        "logs/benchmarks/write_score_table/{challenge}.tsv"
    wildcard_constraints:
        challenge="|".join([*TASKS, MTL]),
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=script_fingerprint("write_score_table.py"),
    script:
        "../workflow_scripts/write_score_table.py"


rule write_runtime_table:
    input:
        benchmarks=timed_benchmarks,
        tables=timed_tables,
    output:
        report(
            "results/report/runtimes.html",
            caption="../report/runtimes.rst",
            category="Runtimes",
        ),
    log:
        "logs/write_runtime_table.log",
    benchmark:
        "logs/benchmarks/write_runtime_table.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        tables={bench: table for bench, _, table in TIMED_JOBS if table},
        code=script_fingerprint("write_runtime_table.py"),
    script:
        "../workflow_scripts/write_runtime_table.py"

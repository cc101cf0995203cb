# The run report: `snakemake --report report.html` after a run gathers these figures and tables with the
# workflow description (report/workflow.rst) and Snakemake's own runtime statistics.


rule plot_learning_curves:
    input:
        PLAN.experiment_histories,
    output:
        report(
            paths.learning_curves_figure("{experiment}"),
            caption="../report/learning_curves.rst",
            category="Learning curves",
            labels={"experiment": "{experiment}"},
        ),
    log:
        paths.log("plot_learning_curves"),
    benchmark:
        paths.benchmark("plot_learning_curves")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=PLAN.code("plot_learning_curves.py"),
    script:
        "../workflow_scripts/plot_learning_curves.py"


rule plot_validation:
    input:
        predictions=PLAN.submitted_predictions,
        labels=paths.labels("aff_wild2", "{challenge}"),
    output:
        report(
            paths.validation_figure("{challenge}"),
            caption="../report/validation.rst",
            category="Validation",
            labels={"task": "{challenge}"},
        ),
    log:
        paths.log("plot_validation"),
    benchmark:
        paths.benchmark("plot_validation")
    wildcard_constraints:
        challenge=alternatives(PLAN.aff_wild2_tasks),
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        submitted=PLAN.submitted_name,
        code=PLAN.code("plot_validation.py"),
    script:
        "../workflow_scripts/plot_validation.py"


rule plot_face_detection:
    input:
        PLAN.face_tables_of_dataset,
    output:
        report(
            paths.face_detection_figure("{dataset}"),
            caption="../report/faces.rst",
            category="Faces",
            labels={"dataset": "{dataset}"},
        ),
    log:
        paths.log("plot_face_detection"),
    benchmark:
        paths.benchmark("plot_face_detection")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        code=PLAN.code("plot_face_detection.py"),
    script:
        "../workflow_scripts/plot_face_detection.py"


rule write_score_table:
    input:
        scores=paths.score_table("{challenge}", "csv"),
        ensemble_weights=PLAN.challenge_ensemble_weights,
    output:
        report(
            paths.score_page("{challenge}"),
            caption="../report/scores.rst",
            category="Scores",
            labels={"challenge": "{challenge}"},
        ),
    log:
        paths.log("write_score_table"),
    benchmark:
        paths.benchmark("write_score_table")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        submitted=PLAN.submitted_name,
        ensembles=PLAN.challenge_ensembles,
        code=PLAN.code("write_score_table.py"),
    script:
        "../workflow_scripts/write_score_table.py"


rule write_runtime_table:
    input:
        benchmarks=PLAN.timed_benchmarks,
        tables=PLAN.timed_tables,
    output:
        report(
            paths.RUNTIME_TABLE,
            caption="../report/runtimes.rst",
            category="Runtimes",
        ),
    log:
        paths.log("write_runtime_table"),
    benchmark:
        paths.benchmark("write_runtime_table")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        tables=PLAN.timed_table_of_benchmark,
        code=PLAN.code("write_runtime_table.py"),
    script:
        "../workflow_scripts/write_runtime_table.py"


# The report's first page: the score tables, the submitted entry of each challenge marked, then the
# workflow's description (the Snakefile's `report:` reads it once it exists).
rule write_report_description:
    input:
        scores=PLAN.score_tables("csv"),
    output:
        paths.REPORT_DESCRIPTION,
    log:
        paths.log("write_report_description"),
    benchmark:
        paths.benchmark("write_report_description")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        challenges=PLAN.challenges,
        submitted=PLAN.submitted_names,
        description=PLAN.report_text(),
        code=PLAN.code("write_report_description.py"),
    script:
        "../workflow_scripts/write_report_description.py"

# Validation scores of every experiment and ensemble, per challenge.


rule evaluate_validation:
    input:
        predictions=PLAN.scored_predictions,
        labels=PLAN.scored_labels,
    output:
        scores=paths.VALIDATION_SCORES,
        tables_csv=PLAN.score_tables("csv"),
        tables_markdown=PLAN.score_tables("md"),
    log:
        paths.log("evaluate_validation"),
    benchmark:
        paths.benchmark("evaluate_validation")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        scored=PLAN.scored,
        challenges=PLAN.challenges,
        submitted=PLAN.submitted_names,
        inputs=PLAN.scored_inputs,
        code=PLAN.code("evaluate_validation.py"),
    script:
        "../workflow_scripts/evaluate_validation.py"

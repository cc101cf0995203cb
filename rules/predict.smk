# Stage two's predictions: each experiment's runs averaged over a challenge's validation and test data,
# and ensembles of experiments.


rule predict:
    input:
        models=PLAN.experiment_models,
        features=PLAN.prediction_feature_rows,
        matrices=PLAN.prediction_feature_matrices,
        splits=PLAN.challenge_splits,
        labels=PLAN.challenge_labels,
    output:
        paths.predictions("{challenge}", "{experiment}"),
    log:
        paths.log("predict"),
    benchmark:
        paths.benchmark("predict")
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        tasks=PLAN.challenge_tasks,
        windows=PLAN.experiment_window,
        postprocess=PLAN.experiment_postprocess,
        code=PLAN.code("predict.py"),
    script:
        "../workflow_scripts/predict.py"


rule ensemble_predictions:
    input:
        members=PLAN.ensemble_member_predictions,
        negative=PLAN.ensemble_negative_predictions,
        labels=PLAN.challenge_labels,
    output:
        predictions=paths.predictions("{challenge}", "{ensemble}"),
        weights=paths.ensemble_weights("{challenge}", "{ensemble}"),
    log:
        paths.log("ensemble_predictions"),
    benchmark:
        paths.benchmark("ensemble_predictions")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        members=PLAN.ensemble_members,
        weights=PLAN.ensemble_weights,
        weighting=PLAN.ensemble_weighting,
        cascade=PLAN.ensemble_cascade,
        tasks=PLAN.challenge_tasks,
        postprocess=PLAN.ensemble_postprocess,
        code=PLAN.code("ensemble_predictions.py"),
    script:
        "../workflow_scripts/ensemble_predictions.py"

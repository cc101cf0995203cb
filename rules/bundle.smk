# The trained models leave the results folder: a bundle, and prediction on any video with it.


rule write_model_bundle:
    input:
        models=PLAN.bundle_model_files,
        weights=PLAN.bundle_backbone_weights,
        predictions=PLAN.bundle_predictions,
        ensemble_weights=PLAN.bundle_ensemble_weights,
        labels=PLAN.bundle_labels,
        splits=paths.splits("aff_wild2"),
        metrics=paths.VALIDATION_SCORES,
    output:
        directory(paths.BUNDLE),
    log:
        paths.log("write_model_bundle"),
    benchmark:
        paths.benchmark("write_model_bundle")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        contents=PLAN.bundle,
        runs=PLAN.bundle_runs(),
        code=PLAN.code("write_model_bundle.py"),
    script:
        "../workflow_scripts/write_model_bundle.py"


rule predict_video:
    input:
        bundle=paths.BUNDLE,
        video=PLAN.prediction_video,
    output:
        directory(paths.video_prediction("{video}")),
    log:
        paths.log("predict_video"),
    benchmark:
        paths.benchmark("predict_video")
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
        runtime=120,
    params:
        people=PLAN.setting("predict", "people"),
        overlay=PLAN.setting("predict", "overlay"),
        undecodable_tail=PLAN.setting("predict", "undecodable_tail"),
        code=PLAN.code("predict_video.py"),
    script:
        "../workflow_scripts/predict_video.py"

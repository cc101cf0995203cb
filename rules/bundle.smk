# The trained models leave the results folder: a bundle, and prediction on any video with it.


rule write_model_bundle:
    input:
        models=bundle_model_files,
        weights=bundle_backbone_weights,
        predictions=bundle_predictions,
        labels=bundle_labels,
        splits="results/aff_wild2/index/splits.parquet",
        metrics="results/metrics/validation.csv",
    output:
        directory("results/bundle"),
    log:
        "logs/write_model_bundle.log",
    benchmark:
        "logs/benchmarks/write_model_bundle.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        contents=bundle_contents(),
        runs=bundle_run_list(),
        code=script_fingerprint("write_model_bundle.py"),
    script:
        "../workflow_scripts/write_model_bundle.py"


rule predict_video:
    input:
        bundle="results/bundle",
        video=prediction_video,
    output:
        directory("results/predict/{video}"),
    log:
        "logs/predict_video/{video}.log",
    benchmark:
        "logs/benchmarks/predict_video/{video}.tsv"
    wildcard_constraints:
        video=PREDICT_VIDEO_NAMES,
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
        runtime=120,
    params:
        people=config["predict"]["people"],
        overlay=config["predict"]["overlay"],
        code=script_fingerprint("predict_video.py"),
    script:
        "../workflow_scripts/predict_video.py"

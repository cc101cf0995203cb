rule detect_and_align_faces:
    input:
        root=DATASET_ROOT,
        subjects="results/index/subjects.parquet",
        # Labels are checked before hours of detection, but a re-indexed label does not redo it.
        labels_checked=ancient("results/index/splits.parquet"),
    output:
        "results/faces/shard{shard}.parquet",
    log:
        "logs/detect_and_align_faces/shard{shard}.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=240,
    params:
        detector=config["faces"]["detector"],
        detector_model_path=config["faces"]["detector_model_path"],
        score_threshold=config["faces"]["score_threshold"],
        detector_input_size=config["faces"]["detector_input_size"],
        crop_size=config["faces"]["crop_size"],
        jpeg_quality=config["faces"]["jpeg_quality"],
        code=script_fingerprint("detect_and_align_faces.py"),
    script:
        "../workflow_scripts/detect_and_align_faces.py"

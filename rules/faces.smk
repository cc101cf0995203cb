# Stage one's face sources (abawflow/datasets/registry.py); extract_features reads the one the config picks.


rule detect_and_align_faces:
    input:
        root=dataset_root,
        media=media_table,
        # Labels are checked before hours of detection, but a re-indexed label does not redo it.
        labels_checked=ancient("results/{dataset}/index/splits.parquet"),
    output:
        "results/{dataset}/faces/detected/shard{shard}.parquet",
    log:
        "logs/detect_and_align_faces/{dataset}/shard{shard}.log",
    benchmark:
        "logs/benchmarks/detect_and_align_faces/{dataset}/shard{shard}.tsv"
    wildcard_constraints:
        dataset="|".join(datasets_with_source("detected")),
    conda:
        "../envs/pipeline.yaml"
    threads: STAGE_ONE_THREADS
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=240,
    params:
        detector=config["faces"]["detector"],
        detector_model_path=config["faces"]["detector_model_path"],
        detector_backend=config["faces"]["detector_backend"],
        score_threshold=config["faces"]["score_threshold"],
        detector_input_size=config["faces"]["detector_input_size"],
        crop_size=config["faces"]["crop_size"],
        jpeg_quality=config["faces"]["jpeg_quality"],
        code=script_fingerprint("detect_and_align_faces.py"),
    script:
        "../workflow_scripts/detect_and_align_faces.py"


rule read_face_crops:
    input:
        root=dataset_root,
        media=media_table,
        labels_checked=ancient("results/{dataset}/index/splits.parquet"),
    output:
        "results/{dataset}/faces/cropped_aligned/shard{shard}.parquet",
    log:
        "logs/read_face_crops/{dataset}/shard{shard}.log",
    benchmark:
        "logs/benchmarks/read_face_crops/{dataset}/shard{shard}.tsv"
    wildcard_constraints:
        dataset="|".join(datasets_with_source("cropped_aligned")),
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        crops_folder=crops_folder,
        code=script_fingerprint("read_face_crops.py"),
    script:
        "../workflow_scripts/read_face_crops.py"

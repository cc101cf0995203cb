# Stage one's face sources (abawflow/datasets/registry.py); extract_features reads the one the config picks.


rule detect_and_align_faces:
    input:
        root=PLAN.dataset_root,
        media=PLAN.media_table,
        # Labels are checked before hours of detection, but a re-indexed label does not redo it.
        labels_checked=ancient(paths.splits("{dataset}")),
        detector_model=PLAN.detector_model(),
    output:
        paths.face_shard("{dataset}", "detected", "{shard}"),
    log:
        paths.log("detect_and_align_faces"),
    benchmark:
        paths.benchmark("detect_and_align_faces")
    wildcard_constraints:
        dataset=alternatives(datasets_with_source("detected")),
    conda:
        "../envs/pipeline.yaml"
    threads: STAGE_ONE_THREADS
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=240,
    params:
        detector=PLAN.setting("faces", "detector"),
        detector_model_path=PLAN.setting("faces", "detector_model_path"),
        detector_backend=PLAN.setting("faces", "detector_backend"),
        score_threshold=PLAN.setting("faces", "score_threshold"),
        detector_input_size=PLAN.setting("faces", "detector_input_size"),
        crop_size=PLAN.setting("faces", "crop_size"),
        jpeg_quality=PLAN.setting("faces", "jpeg_quality"),
        code=PLAN.code("detect_and_align_faces.py"),
    script:
        "../workflow_scripts/detect_and_align_faces.py"


rule read_face_crops:
    input:
        root=PLAN.dataset_root,
        media=PLAN.media_table,
        labels_checked=ancient(paths.splits("{dataset}")),
    output:
        paths.face_shard("{dataset}", "cropped_aligned", "{shard}"),
    log:
        paths.log("read_face_crops"),
    benchmark:
        paths.benchmark("read_face_crops")
    wildcard_constraints:
        dataset=alternatives(datasets_with_source("cropped_aligned")),
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        crops_folder=PLAN.crops_folder,
        code=PLAN.dataset_code_of("read_face_crops.py"),
    script:
        "../workflow_scripts/read_face_crops.py"

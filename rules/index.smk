rule index_videos:
    input:
        DATASET_ROOT,
    output:
        "results/index/subjects.parquet",
    log:
        "logs/index_videos.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        annotation_folder=config["dataset"]["annotation_folder"],
        video_folder=config["dataset"]["video_folder"],
        challenge_folders=config_params("dataset", "challenge_folders"),
        test_lists=config_params("dataset", "test_lists"),
        tasks=TASKS,
        dataset_subjects=dataset_subjects(),
        code=script_fingerprint("index_videos.py"),
    script:
        "../workflow_scripts/index_videos.py"


rule index_annotations:
    input:
        DATASET_ROOT,
    output:
        splits="results/index/splits.parquet",
        labels=expand("results/index/labels_{task}.parquet", task=TASKS),
    log:
        "logs/index_annotations.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        annotation_folder=config["dataset"]["annotation_folder"],
        video_folder=config["dataset"]["video_folder"],
        challenge_folders=config_params("dataset", "challenge_folders"),
        test_lists=config_params("dataset", "test_lists"),
        tasks=TASKS,
        dataset_files=dataset_files(),
        code=script_fingerprint("index_annotations.py"),
    script:
        "../workflow_scripts/index_annotations.py"

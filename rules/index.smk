rule index_annotations:
    input:
        DATASET_ROOT,
    output:
        subjects="results/index/subjects.parquet",
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

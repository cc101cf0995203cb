# The datasets' layout readers (abawflow/datasets/registry.py): each writes results/<dataset>/index/.


rule index_videos:
    input:
        DATASET_ROOT,
    output:
        "results/aff_wild2/index/subjects.parquet",
    log:
        "logs/index_videos.log",
    benchmark:
        "logs/benchmarks/index_videos.tsv"
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
        tasks=AFF_WILD2_TASKS,
        exclude_videos=sorted(config["dataset"]["exclude_videos"]),
        truncated_test_video=config["dataset"]["truncated_test_video"],
        dataset_subjects=dataset_subjects(),
        code=script_fingerprint("index_videos.py"),
    script:
        "../workflow_scripts/index_videos.py"


rule index_annotations:
    input:
        DATASET_ROOT,
    output:
        splits="results/aff_wild2/index/splits.parquet",
        labels=expand(
            "results/aff_wild2/index/labels_{task}.parquet", task=AFF_WILD2_TASKS
        ),
    log:
        "logs/index_annotations.log",
    benchmark:
        "logs/benchmarks/index_annotations.tsv"
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
        tasks=AFF_WILD2_TASKS,
        exclude_videos=sorted(config["dataset"]["exclude_videos"]),
        dataset_files=dataset_files(),
        code=script_fingerprint("index_annotations.py"),
    script:
        "../workflow_scripts/index_annotations.py"


rule index_s_aff_wild2:
    input:
        S_AFF_WILD2_ROOT,
    output:
        images="results/s_aff_wild2/index/images.parquet",
        splits="results/s_aff_wild2/index/splits.parquet",
        labels=expand("results/s_aff_wild2/index/labels_{task}.parquet", task=MTL_TASKS),
    log:
        "logs/index_s_aff_wild2.log",
    benchmark:
        "logs/benchmarks/index_s_aff_wild2.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        crops_folder=config["mtl"]["crops_folder"],
        annotation_files=config_params("mtl", "annotation_files"),
        test_list=config["mtl"]["test_list"],
        dataset_files=s_aff_wild2_files(),
        code=script_fingerprint("index_s_aff_wild2.py"),
    script:
        "../workflow_scripts/index_s_aff_wild2.py"


rule index_hume_reaction:
    input:
        HUME_REACTION_ROOT,
    output:
        subjects="results/hume_reaction/index/subjects.parquet",
        splits="results/hume_reaction/index/splits.parquet",
        labels="results/hume_reaction/index/labels_eri.parquet",
    log:
        "logs/index_hume_reaction.log",
    benchmark:
        "logs/benchmarks/index_hume_reaction.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        info_file=config["eri"]["info_file"],
        split_folders=config_params("eri", "split_folders"),
        video_folder=config["eri"]["video_folder"],
        audio_folder=config["eri"]["audio_folder"],
        truncated_test_video=config["eri"]["truncated_test_video"],
        dataset_files=hume_reaction_files(),
        code=script_fingerprint("index_hume_reaction.py"),
    script:
        "../workflow_scripts/index_hume_reaction.py"

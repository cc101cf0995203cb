# The datasets' layout readers (abawflow/datasets/): each writes results/<dataset>/index/.


rule index_videos:
    input:
        PLAN.root("aff_wild2"),
    output:
        paths.index_table("aff_wild2", "subjects"),
    log:
        paths.log("index_videos"),
    benchmark:
        paths.benchmark("index_videos")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        annotation_folder=PLAN.setting("dataset", "annotation_folder"),
        video_folder=PLAN.setting("dataset", "video_folder"),
        challenge_folders=PLAN.setting("dataset", "challenge_folders"),
        test_lists=PLAN.setting("dataset", "test_lists"),
        tasks=PLAN.aff_wild2_tasks,
        exclude_videos=sorted(PLAN.setting("dataset", "exclude_videos")),
        truncated_test_video=PLAN.setting("dataset", "truncated_test_video"),
        dataset_subjects=PLAN.aff_wild2_subjects(),
        code=PLAN.code("index_videos.py"),
    script:
        "../workflow_scripts/index_videos.py"


rule index_annotations:
    input:
        PLAN.root("aff_wild2"),
    output:
        splits=paths.splits("aff_wild2"),
        labels=PLAN.index_labels("aff_wild2"),
    log:
        paths.log("index_annotations"),
    benchmark:
        paths.benchmark("index_annotations")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        annotation_folder=PLAN.setting("dataset", "annotation_folder"),
        video_folder=PLAN.setting("dataset", "video_folder"),
        challenge_folders=PLAN.setting("dataset", "challenge_folders"),
        test_lists=PLAN.setting("dataset", "test_lists"),
        tasks=PLAN.aff_wild2_tasks,
        exclude_videos=sorted(PLAN.setting("dataset", "exclude_videos")),
        dataset_files=PLAN.aff_wild2_files(),
        code=PLAN.code("index_annotations.py"),
    script:
        "../workflow_scripts/index_annotations.py"


rule index_s_aff_wild2:
    input:
        PLAN.root("s_aff_wild2"),
    output:
        images=paths.index_table("s_aff_wild2", "images"),
        splits=paths.splits("s_aff_wild2"),
        labels=PLAN.index_labels("s_aff_wild2"),
    log:
        paths.log("index_s_aff_wild2"),
    benchmark:
        paths.benchmark("index_s_aff_wild2")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        crops_folder=PLAN.setting("mtl", "crops_folder"),
        annotation_files=PLAN.setting("mtl", "annotation_files"),
        test_list=PLAN.setting("mtl", "test_list"),
        dataset_files=PLAN.s_aff_wild2_files(),
        code=PLAN.code("index_s_aff_wild2.py"),
    script:
        "../workflow_scripts/index_s_aff_wild2.py"


rule index_hume_reaction:
    input:
        PLAN.root("hume_reaction"),
    output:
        subjects=paths.index_table("hume_reaction", "subjects"),
        splits=paths.splits("hume_reaction"),
        labels=paths.labels("hume_reaction", "eri"),
    log:
        paths.log("index_hume_reaction"),
    benchmark:
        paths.benchmark("index_hume_reaction")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        info_file=PLAN.setting("eri", "info_file"),
        split_folders=PLAN.setting("eri", "split_folders"),
        video_folder=PLAN.setting("eri", "video_folder"),
        audio_folder=PLAN.setting("eri", "audio_folder"),
        truncated_test_video=PLAN.setting("eri", "truncated_test_video"),
        dataset_files=PLAN.hume_reaction_files(),
        code=PLAN.code("index_hume_reaction.py"),
    script:
        "../workflow_scripts/index_hume_reaction.py"


# The datasets whose layout reader is registered (abawflow/datasets/registry.py): one index rule each, made
# from the registration, so that adding such a dataset adds no rule here.
for dataset in PLAN.datasets_with_reader:

    rule:
        name:
            f"index_{dataset}"
        input:
            PLAN.root(dataset),
        output:
            media=PLAN.media_table_of(dataset),
            splits=paths.splits(dataset),
            labels=PLAN.index_labels(dataset),
        log:
            paths.log("index_layout", dataset=dataset),
        benchmark:
            paths.benchmark("index_layout", dataset=dataset)
        conda:
            "../envs/pipeline.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
        params:
            dataset=dataset,
            tasks=PLAN.label_tasks(dataset),
            settings=PLAN.layout_settings(dataset),
            dataset_files=PLAN.layout_files(dataset),
            code=PLAN.dataset_code("index_layout.py", dataset),
        script:
            "../workflow_scripts/index_layout.py"

rule demo_data:
    output:
        directory("resources/demo"),
    log:
        paths.log("demo_data"),
    benchmark:
        paths.benchmark("demo_data")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        seed=PLAN.setting("demo", "seed"),
        videos=PLAN.setting("demo", "videos"),
        frames_per_video=PLAN.setting("demo", "frames_per_video"),
        code=PLAN.code("make_demo_data.py"),
    script:
        "../workflow_scripts/make_demo_data.py"


rule demo_mtl_data:
    output:
        directory("resources/demo_mtl"),
    log:
        paths.log("demo_mtl_data"),
    benchmark:
        paths.benchmark("demo_mtl_data")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        seed=PLAN.setting("demo", "seed"),
        videos=PLAN.setting("demo", "mtl_videos"),
        frames_per_video=PLAN.setting("demo", "frames_per_video"),
        images_per_video=PLAN.setting("demo", "mtl_images_per_video"),
        code=PLAN.code("make_mtl_demo_data.py"),
    script:
        "../workflow_scripts/make_mtl_demo_data.py"


rule demo_eri_data:
    output:
        directory("resources/demo_eri"),
    log:
        paths.log("demo_eri_data"),
    benchmark:
        paths.benchmark("demo_eri_data")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        seed=PLAN.setting("demo", "seed"),
        samples=PLAN.setting("demo", "eri_samples"),
        frames=PLAN.setting("demo", "eri_frames"),
        code=PLAN.code("make_demo_eri_data.py"),
    script:
        "../workflow_scripts/make_demo_eri_data.py"


# The demos of datasets whose generator is registered (abawflow/datasets/registry.py): one rule each.
for dataset in PLAN.generated_datasets:

    rule:
        name:
            f"demo_{dataset}_data"
        output:
            directory(PLAN.demo_root(dataset)),
        log:
            paths.log("demo_dataset", dataset=dataset),
        benchmark:
            paths.benchmark("demo_dataset", dataset=dataset)
        conda:
            "../envs/pipeline.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        params:
            dataset=dataset,
            settings=PLAN.demo_settings(dataset),
            code=PLAN.dataset_code("make_demo_dataset.py", dataset),
        script:
            "../workflow_scripts/make_demo_dataset.py"

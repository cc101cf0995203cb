# The multi-task-learning challenge on s-Aff-Wild2: organizer crops feed the feature stage directly.


rule index_mtl:
    input:
        MTL_ROOT,
    output:
        images="results/mtl/index/images.parquet",
        splits="results/mtl/index/splits.parquet",
        labels=expand("results/mtl/index/labels_{task}.parquet", task=MTL_TASKS),
    log:
        "logs/index_mtl.log",
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
        dataset_files=mtl_dataset_files(),
        code=script_fingerprint("index_mtl.py"),
    script:
        "../workflow_scripts/index_mtl.py"


rule read_mtl_crops:
    input:
        root=MTL_ROOT,
        images="results/mtl/index/images.parquet",
    output:
        "results/mtl/faces.parquet",
    log:
        "logs/read_mtl_crops.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        crops_folder=config["mtl"]["crops_folder"],
        code=script_fingerprint("read_mtl_crops.py"),
    script:
        "../workflow_scripts/read_mtl_crops.py"


rule extract_mtl_features:
    input:
        faces="results/mtl/faces.parquet",
        weights=backbone_weights,
    output:
        "results/mtl/features/{backbone}.parquet",
    log:
        "logs/extract_mtl_features/{backbone}.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
        runtime=240,
    params:
        backbone=backbone_spec,
        code=script_fingerprint("extract_features.py"),
    script:
        "../workflow_scripts/extract_features.py"

rule extract_features:
    input:
        faces=face_shard,
        weights=backbone_weights,
    output:
        "results/{dataset}/features/{backbone}/shard{shard}.parquet",
    log:
        "logs/extract_features/{dataset}/{backbone}/shard{shard}.log",
    benchmark:
        "logs/benchmarks/extract_features/{dataset}/{backbone}/shard{shard}.tsv"
    wildcard_constraints:
        backbone=IMAGE_BACKBONES,
    conda:
        "../envs/pipeline.yaml"
    threads: STAGE_ONE_THREADS
    resources:
        gpu=1,
        mem_mb=6000,
        runtime=240,
    params:
        backbone=backbone_spec,
        code=script_fingerprint("extract_features.py"),
    script:
        "../workflow_scripts/extract_features.py"


rule merge_feature_shards:
    input:
        backbone_shards,
    output:
        "results/{dataset}/features/{backbone}.parquet",
    log:
        "logs/merge_feature_shards/{dataset}/{backbone}.log",
    benchmark:
        "logs/benchmarks/merge_feature_shards/{dataset}/{backbone}.tsv"
    wildcard_constraints:
        backbone=IMAGE_BACKBONES,
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        code=script_fingerprint("merge_parquet.py"),
    script:
        "../workflow_scripts/merge_parquet.py"


# Training and prediction read each table as a matrix sorted by (subject, frame): a window is one
# contiguous read, and host memory stays bounded by feature_memory_gb (abawflow/training/feature_matrix.py).
rule cache_feature_matrix:
    input:
        "results/{dataset}/features/{backbone}.parquet",
    output:
        matrix="results/{dataset}/features/matrices/{backbone}.npy",
        rows="results/{dataset}/features/matrices/{backbone}.rows.parquet",
    log:
        "logs/cache_feature_matrix/{dataset}/{backbone}.log",
    benchmark:
        "logs/benchmarks/cache_feature_matrix/{dataset}/{backbone}.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        code=script_fingerprint("cache_feature_matrix.py"),
    script:
        "../workflow_scripts/cache_feature_matrix.py"


rule fine_tune_backbone:
    input:
        faces=face_tables(),
        splits="results/aff_wild2/index/splits.parquet",
        labels=fine_tuning_labels,
        base_weights=fine_tuning_base_weights,
    output:
        weights="results/backbones/{backbone}/fine_tuned.pt",
        history="results/backbones/{backbone}/fine_tuning_history.csv",
    log:
        "logs/fine_tune_backbone/{backbone}.log",
    benchmark:
        "logs/benchmarks/fine_tune_backbone/{backbone}.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=12000,
        runtime=480,
    params:
        base=fine_tuning_base,
        task=fine_tuning_task,
        recipe=fine_tuning_recipe,
        code=script_fingerprint("fine_tune_backbone.py"),
    script:
        "../workflow_scripts/fine_tune_backbone.py"


rule pretrain_mae:
    input:
        faces=face_tables(),
        splits="results/aff_wild2/index/splits.parquet",
    output:
        weights="results/backbones/{backbone}/mae.pt",
        history="results/backbones/{backbone}/mae_history.csv",
    log:
        "logs/pretrain_mae/{backbone}.log",
    benchmark:
        "logs/benchmarks/pretrain_mae/{backbone}.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=12000,
        runtime=720,
    params:
        backbone=mae_spec,
        code=script_fingerprint("pretrain_mae.py"),
    script:
        "../workflow_scripts/pretrain_mae.py"

rule extract_features:
    input:
        "results/faces/shard{shard}.parquet",
    output:
        "results/features/{backbone}/shard{shard}.parquet",
    log:
        "logs/extract_features/{backbone}/shard{shard}.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
        runtime=240,
    params:
        backbone=backbone_spec,
        device=config["device"],
        code=script_fingerprint("extract_features.py"),
    script:
        "../workflow_scripts/extract_features.py"


rule merge_feature_shards:
    input:
        backbone_shards,
    output:
        "results/features/{backbone}.parquet",
    log:
        "logs/merge_feature_shards/{backbone}.log",
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

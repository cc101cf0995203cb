# Stage one's features: each image backbone over a dataset's face tables, merged, or the features a dataset
# ships per video; each table cached as a matrix.


rule extract_features:
    input:
        faces=PLAN.face_shard,
        weights=PLAN.backbone_weights,
    output:
        paths.feature_shard("{dataset}", "{backbone}", "{shard}"),
    log:
        paths.log("extract_features"),
    benchmark:
        paths.benchmark("extract_features")
    wildcard_constraints:
        backbone=PLAN.backbones_of("extract_features"),
    conda:
        "../envs/pipeline.yaml"
    threads: STAGE_ONE_THREADS
    resources:
        gpu=1,
        mem_mb=6000,
        runtime=240,
    params:
        backbone=PLAN.backbone_spec,
        code=PLAN.code("extract_features.py"),
    script:
        "../workflow_scripts/extract_features.py"


rule merge_feature_shards:
    input:
        PLAN.feature_shards,
    output:
        paths.feature_table("{dataset}", "{backbone}"),
    log:
        paths.log("merge_feature_shards"),
    benchmark:
        paths.benchmark("merge_feature_shards")
    wildcard_constraints:
        backbone=PLAN.backbones_of("extract_features"),
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        code=PLAN.code("merge_parquet.py"),
    script:
        "../workflow_scripts/merge_parquet.py"


rule read_precomputed_features:
    input:
        root=PLAN.dataset_root,
        media=PLAN.media_table,
    output:
        paths.feature_table("{dataset}", "{backbone}"),
    log:
        paths.log("read_precomputed_features"),
    benchmark:
        paths.benchmark("read_precomputed_features")
    wildcard_constraints:
        backbone=PLAN.backbones_of("read_precomputed_features"),
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        backbone=PLAN.backbone_spec,
        files=PLAN.precomputed_files,
        code=PLAN.code("read_precomputed_features.py"),
    script:
        "../workflow_scripts/read_precomputed_features.py"


# Training and prediction read each table as a matrix sorted by (subject, frame): a window is one
# contiguous read, and host memory stays bounded by feature_memory_gb (abawflow/training/feature_matrix.py).
rule cache_feature_matrix:
    input:
        paths.feature_table("{dataset}", "{backbone}"),
    output:
        matrix=paths.feature_matrix("{dataset}", "{backbone}", "npy"),
        rows=paths.feature_matrix("{dataset}", "{backbone}", "rows.parquet"),
    log:
        paths.log("cache_feature_matrix"),
    benchmark:
        paths.benchmark("cache_feature_matrix")
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        code=PLAN.code("cache_feature_matrix.py"),
    script:
        "../workflow_scripts/cache_feature_matrix.py"

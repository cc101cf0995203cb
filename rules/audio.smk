# Stage one's audio: features of each frame's window of the sound track, one table per audio backbone,
# beside the image backbones' tables (experiments fuse both alike).


rule extract_audio_features:
    input:
        root=PLAN.dataset_root,
        media=PLAN.media_table,
        weights=PLAN.backbone_weights,
    output:
        paths.feature_table("{dataset}", "{backbone}"),
    log:
        paths.log("extract_audio_features"),
    benchmark:
        paths.benchmark("extract_audio_features")
    wildcard_constraints:
        dataset=alternatives(datasets_with_sound()),
        backbone=PLAN.backbones_of("extract_audio_features"),
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=PLAN.audio_extractor_gpus,
        mem_mb=4000,
        runtime=240,
    params:
        backbone=PLAN.backbone_spec,
        code=PLAN.code("extract_audio_features.py"),
    script:
        "../workflow_scripts/extract_audio_features.py"

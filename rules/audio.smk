# Stage one's audio: features of each frame's window of the sound track, one table per audio backbone,
# beside the image backbones' tables (experiments fuse both alike).


rule extract_audio_features:
    input:
        root=dataset_root,
        media=media_table,
    output:
        "results/{dataset}/features/{backbone}.parquet",
    log:
        "logs/extract_audio_features/{dataset}/{backbone}.log",
    benchmark:
        "logs/benchmarks/extract_audio_features/{dataset}/{backbone}.tsv"
    wildcard_constraints:
        dataset="|".join(datasets_with_sound()) or "(?!)",
        backbone=AUDIO_BACKBONES,
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=audio_extractor_gpus,
        mem_mb=4000,
        runtime=240,
    params:
        backbone=backbone_spec,
        code=script_fingerprint("extract_audio_features.py"),
    script:
        "../workflow_scripts/extract_audio_features.py"

# Stage one's text: what is said in each video (a dataset's transcripts, or what speech recognition hears in
# its sound), and the features of the words around each frame, one table per text backbone beside the image
# and audio backbones' tables.


rule read_transcripts:
    input:
        root=PLAN.dataset_root,
        media=PLAN.media_table,
    output:
        paths.transcripts("{dataset}"),
    log:
        paths.log("read_transcripts"),
    benchmark:
        paths.benchmark("read_transcripts")
    wildcard_constraints:
        dataset=alternatives(PLAN.datasets_with_transcript("files")),
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        settings=PLAN.transcript_settings,
        code=PLAN.dataset_code_of("read_transcripts.py"),
    script:
        "../workflow_scripts/read_transcripts.py"


rule transcribe_speech:
    input:
        root=PLAN.dataset_root,
        media=PLAN.media_table,
        model=PLAN.speech_model_files,
    output:
        paths.transcripts("{dataset}"),
    log:
        paths.log("transcribe_speech"),
    benchmark:
        paths.benchmark("transcribe_speech")
    wildcard_constraints:
        dataset=alternatives(PLAN.datasets_with_transcript("speech_recognition")),
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        gpu=PLAN.speech_recognition_gpus,
        mem_mb=4000,
        runtime=720,
    params:
        settings=PLAN.setting("speech_recognition"),
        code=PLAN.code("transcribe_speech.py"),
    script:
        "../workflow_scripts/transcribe_speech.py"


rule extract_text_features:
    input:
        media=PLAN.media_table,
        transcripts=paths.transcripts("{dataset}"),
        model=PLAN.text_model_files,
    output:
        paths.feature_table("{dataset}", "{backbone}"),
    log:
        paths.log("extract_text_features"),
    benchmark:
        paths.benchmark("extract_text_features")
    wildcard_constraints:
        backbone=PLAN.backbones_of("extract_text_features"),
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        backbone=PLAN.backbone_spec,
        code=PLAN.code("extract_text_features.py"),
    script:
        "../workflow_scripts/extract_text_features.py"

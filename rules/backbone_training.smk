# Backbones trained by the pipeline itself: fine-tuning on Aff-Wild2's face crops (papers 003, 004) and MAE
# pre-training on face corpora (paper 003). Their weights feed extract_features.


rule fine_tune_backbone:
    input:
        faces=PLAN.aff_wild2_face_tables,
        splits=paths.splits("aff_wild2"),
        labels=PLAN.fine_tuning_labels,
        base_weights=PLAN.fine_tuning_base_weights,
    output:
        weights=paths.backbone_weights("{backbone}", "fine_tuned"),
        history=paths.backbone_history("{backbone}", "fine_tuned"),
    log:
        paths.log("fine_tune_backbone"),
    benchmark:
        paths.benchmark("fine_tune_backbone")
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=12000,
        runtime=480,
    params:
        base=PLAN.fine_tuning_base,
        task=PLAN.fine_tuning_task,
        recipe=PLAN.fine_tuning_recipe,
        code=PLAN.code("fine_tune_backbone.py"),
    script:
        "../workflow_scripts/fine_tune_backbone.py"


rule pretrain_mae:
    input:
        corpora=PLAN.mae_corpus_files,
        start=PLAN.mae_start_weights,
    output:
        weights=paths.backbone_weights("{backbone}", "mae"),
        history=paths.backbone_history("{backbone}", "mae"),
    log:
        paths.log("pretrain_mae"),
    benchmark:
        paths.benchmark("pretrain_mae")
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=12000,
        runtime=720,
    params:
        backbone=PLAN.mae_spec,
        corpora=PLAN.mae_corpora,
        code=PLAN.code("pretrain_mae.py"),
    script:
        "../workflow_scripts/pretrain_mae.py"


rule evaluate_mae_pretraining:
    input:
        weights=paths.backbone_weights("{backbone}", "mae"),
        history=paths.backbone_history("{backbone}", "mae"),
        faces=PLAN.aff_wild2_face_tables,
        splits=paths.splits("aff_wild2"),
        start=PLAN.mae_start_weights,
        probe_labels=PLAN.mae_probe_labels,
    output:
        figure=report(
            paths.mae_figure("{backbone}"),
            caption="../report/mae.rst",
            category="MAE pre-training",
            labels={"backbone": "{backbone}"},
        ),
        probe=paths.mae_probe("{backbone}"),
    log:
        paths.log("evaluate_mae_pretraining"),
    benchmark:
        paths.benchmark("evaluate_mae_pretraining")
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        backbone=PLAN.mae_spec,
        probe_tasks=PLAN.mae_probe_tasks,
        code=PLAN.code("evaluate_mae_pretraining.py"),
    script:
        "../workflow_scripts/evaluate_mae_pretraining.py"

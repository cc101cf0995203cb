# Stage two's training: one job per run (fold x seed) of an experiment's model for one training target.


rule train_temporal_model:
    input:
        features=PLAN.target_feature_rows,
        matrices=PLAN.target_feature_matrices,
        splits=PLAN.target_splits,
        labels=PLAN.target_labels,
    output:
        model=paths.run_model("{experiment}", "{target}", "{fold}", "{seed}"),
        history=paths.run_history("{experiment}", "{target}", "{fold}", "{seed}"),
    log:
        paths.log("train_temporal_model"),
    benchmark:
        paths.benchmark("train_temporal_model")
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    params:
        model=PLAN.experiment_model,
        tasks=PLAN.target_tasks,
        recipe=PLAN.training_recipe,
        code=PLAN.code("train_temporal_model.py"),
    script:
        "../workflow_scripts/train_temporal_model.py"

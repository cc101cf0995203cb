rule train_temporal_model:
    input:
        features=target_feature_files("rows.parquet"),
        matrices=target_feature_files("npy"),
        splits=target_splits,
        labels=target_labels,
    output:
        model="results/models/{experiment}/{target}/fold{fold}_seed{seed}/model.pt",
        history="results/models/{experiment}/{target}/fold{fold}_seed{seed}/history.csv",
    log:
        "logs/train_temporal_model/{experiment}/{target}/fold{fold}_seed{seed}.log",
    benchmark:
        "logs/benchmarks/train_temporal_model/{experiment}/{target}/fold{fold}_seed{seed}.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    params:
        model=experiment_model,
        tasks=target_tasks,
        recipe=training_recipe,
        code=script_fingerprint("train_temporal_model.py"),
    script:
        "../workflow_scripts/train_temporal_model.py"


rule predict:
    input:
        models=experiment_models,
        features=prediction_feature_files("rows.parquet"),
        matrices=prediction_feature_files("npy"),
        splits=prediction_splits,
        labels=challenge_labels,
    output:
        "results/predictions/{task}/{experiment}.parquet",
    log:
        "logs/predict/{task}/{experiment}.log",
    benchmark:
        "logs/benchmarks/predict/{task}/{experiment}.tsv"
    wildcard_constraints:
        task="|".join([*TASKS, MTL]),  # mtl: the MTL challenge's three tasks, one table
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        tasks=challenge_tasks,
        windows=experiment_window,
        postprocess=experiment_postprocess,
        code=script_fingerprint("predict.py"),
    script:
        "../workflow_scripts/predict.py"

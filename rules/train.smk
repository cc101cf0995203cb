rule train_temporal_model:
    input:
        features=training_feature_tables,
        splits="results/index/splits.parquet",
        labels="results/index/labels_{task}.parquet",
    output:
        model="results/models/{task}/model.pt",
        history="results/models/{task}/history.csv",
    log:
        "logs/train_temporal_model/{task}.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    params:
        model=model_config,
        recipe=training_recipe,
        device=config["device"],
    script:
        "../workflow_scripts/train_temporal_model.py"


rule predict:
    input:
        model="results/models/{task}/model.pt",
        features=training_feature_tables,
        splits="results/index/splits.parquet",
        labels="results/index/labels_{task}.parquet",
    output:
        "results/predictions/{task}.parquet",
    log:
        "logs/predict/{task}.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        window=config["training"]["window"],
        stride=config["training"]["stride"],
        device=config["device"],
    script:
        "../workflow_scripts/predict.py"

rule train_temporal_model:
    input:
        features=experiment_feature_tables,
        splits="results/index/splits.parquet",
        labels="results/index/labels_{task}.parquet",
    output:
        model="results/models/{task}/{experiment}/model.pt",
        history="results/models/{task}/{experiment}/history.csv",
    log:
        "logs/train_temporal_model/{task}/{experiment}.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    params:
        model=experiment_model,
        recipe=experiment_recipe,
        device=config["device"],
        code=script_fingerprint("train_temporal_model.py"),
    script:
        "../workflow_scripts/train_temporal_model.py"


rule predict:
    input:
        model="results/models/{task}/{experiment}/model.pt",
        features=experiment_feature_tables,
        splits="results/index/splits.parquet",
        labels="results/index/labels_{task}.parquet",
    output:
        "results/predictions/{task}/{experiment}.parquet",
    log:
        "logs/predict/{task}/{experiment}.log",
    conda:
        "../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        windows=experiment_window,
        device=config["device"],
        code=script_fingerprint("predict.py"),
    script:
        "../workflow_scripts/predict.py"

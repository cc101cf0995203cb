from snakemake.utils import min_version, validate

min_version("9.0")


validate(config, "../config.schema.yaml")

DATASET_ROOT = config["dataset"]["root"]
TASKS = config["tasks"]
SHARDS = config["faces"]["shards"]
SHARD_NAMES = [f"{index}of{SHARDS}" for index in range(SHARDS)]

for _name in config["training"]["backbones"]:
    if _name not in config["backbones"]:
        raise ValueError(
            f"config.yaml: training.backbones names {_name!r}, which is not under backbones "
            f"(defined: {', '.join(config['backbones'])})"
        )


wildcard_constraints:
    task="|".join(TASKS),
    shard=r"\d+of\d+",
    backbone="|".join(config["backbones"]),


def face_tables(wildcards=None):
    return expand("results/faces/shard{shard}.parquet", shard=SHARD_NAMES)


def backbone_shards(wildcards):
    return expand(
        "results/features/{backbone}/shard{shard}.parquet",
        backbone=wildcards.backbone,
        shard=SHARD_NAMES,
    )


def backbone_spec(wildcards):
    return config["backbones"][wildcards.backbone]


def training_feature_tables(wildcards=None):
    return expand(
        "results/features/{backbone}.parquet", backbone=config["training"]["backbones"]
    )


def model_config(wildcards=None):
    return {
        "fusion": config["training"]["fusion"],
        "encoder": config["training"]["encoder"],
    }


def training_recipe(wildcards=None):
    keys = (
        "seed",
        "window",
        "stride",
        "epochs",
        "batch_size",
        "learning_rate",
        "weight_decay",
        "shuffle_labels",
    )
    return {key: config["training"][key] for key in keys}


def submission_files(wildcards=None):
    return expand("results/submission/{task}.txt", task=TASKS)

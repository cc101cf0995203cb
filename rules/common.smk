import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

# Input functions and params below use the project's own code.
sys.path.insert(0, workflow.basedir)

from abawflow.code_fingerprint import code_fingerprint  # noqa: E402
from abawflow.errors import ConfigError  # noqa: E402

validate(config, "../config.schema.yaml")

DATASET_ROOT = config["dataset"]["root"]
TASKS = [task for task in config["tasks"] if task != "mtl"]  # the video tasks
SHARDS = config["faces"]["shards"]
SHARD_NAMES = [f"{index}of{SHARDS}" for index in range(SHARDS)]


# The training keys the trainer reads: a recipe param carries these and nothing else.
RECIPE_KEYS = (
    "seed",
    "window",
    "stride",
    "epochs",
    "batch_size",
    "learning_rate",
    "weight_decay",
    "shuffle_labels",
    "optimizer",
    "schedule",
    "warmup_epochs",
    "ema",
    "gradient_clip",
    "patience",
    "oversampling",
)
MULTITASK = "multitask"  # the training target of an experiment whose framework trains its tasks jointly
MTL = "mtl"  # the training target of the MTL challenge (s-Aff-Wild2 crops)
MTL_TASKS = ["va", "expr", "au"]
MTL_ROOT = config["mtl"]["root"]


def resolve_experiments(config):
    """Each experiment with its tasks, model, full recipe (`training` overridden by the experiment's
    `recipe`), training runs (fold, seed) and the target each task's model is trained under.
    """
    experiments = {}
    for name, experiment in config["experiments"].items():
        for backbone in experiment["backbones"]:
            if backbone not in config["backbones"]:
                raise ConfigError(
                    f"config.yaml: experiments.{name}.backbones names {backbone!r}, which is not under "
                    f"backbones (defined: {', '.join(config['backbones'])})"
                )
        tasks = [task for task in experiment.get("tasks", TASKS) if task in TASKS]
        framework = {"name": "single", **experiment.get("framework", {})}
        recipe = {**config["training"], **experiment["recipe"]}
        multitask = framework["name"] != "single"
        mtl = MTL in experiment.get("tasks", []) and MTL in config["tasks"]
        if mtl and not multitask:
            raise ConfigError(
                f"config.yaml: experiments.{name} lists the mtl challenge, which needs a multi-task "
                "framework: set framework.name to basic, share_bottom or feedback"
            )
        if not multitask and (set(framework) - {"name"}):
            raise ConfigError(
                f"config.yaml: experiments.{name}.framework sets {', '.join(sorted(set(framework) - {'name'}))}, "
                "which only multi-task frameworks (basic, share_bottom, feedback) read"
            )
        experiments[name] = {
            "tasks": tasks,
            "backbones": experiment["backbones"],
            "model": {
                "fusion": experiment["fusion"],
                "encoder": experiment["encoder"],
                "framework": {
                    k: v for k, v in framework.items() if k != "loss_weights"
                },
                "heads": experiment.get("heads", {}),
            },
            "losses": experiment["losses"],
            "loss_weights": framework.get("loss_weights", {}),
            "recipe": {key: recipe[key] for key in RECIPE_KEYS},
            "runs": [
                (fold, seed)
                for fold in range(recipe["folds"])
                for seed in recipe.get("seeds") or [recipe["seed"]]
            ],
            "folds": recipe["folds"],
            "targets": {task: MULTITASK if multitask else task for task in tasks},
            "mtl": mtl,
            "postprocess": experiment.get("postprocess", {}),
        }
    return experiments


def resolve_submitted_experiments(config, experiments):
    submitted = {}
    for task in TASKS:
        name = config["submission"].get(task)
        if name is None:
            name = next((n for n, e in experiments.items() if task in e["tasks"]), None)
        if name is None or task not in experiments.get(name, {}).get("tasks", []):
            raise ConfigError(
                f"config.yaml: task {task!r} has no experiment to submit: submission.{task} is {name!r}, "
                f"and the experiments training {task} are: "
                f"{', '.join(n for n, e in experiments.items() if task in e['tasks']) or 'none'}"
            )
        submitted[task] = name
    return submitted


def resolve_ensembles(config, experiments):
    """Each ensemble with its members, weights and tasks (default: the tasks every member trains)."""
    ensembles = {}
    for name, ensemble in config.get("ensembles", {}).items():
        if name in experiments:
            raise ConfigError(
                f"config.yaml: ensembles.{name} has the name of an experiment; choose another"
            )
        members = ensemble["members"]
        unknown = [member for member in members if member not in experiments]
        if unknown:
            raise ConfigError(
                f"config.yaml: ensembles.{name}.members names {', '.join(unknown)}, not under experiments "
                f"(defined: {', '.join(experiments)})"
            )
        weights = ensemble.get("weights") or [1.0] * len(members)
        if len(weights) != len(members):
            raise ConfigError(
                f"config.yaml: ensembles.{name} has {len(members)} members but {len(weights)} weights"
            )
        common = [
            t for t in TASKS if all(t in experiments[m]["tasks"] for m in members)
        ]
        tasks = ensemble.get("tasks", common)
        missing = [t for t in tasks if t not in common]
        if missing:
            raise ConfigError(
                f"config.yaml: ensembles.{name} covers {', '.join(missing)}, which not every member trains"
            )
        ensembles[name] = {
            "members": members,
            "weights": weights,
            "tasks": tasks,
            "postprocess": ensemble.get("postprocess", {}),
        }
    return ensembles


EXPERIMENTS = resolve_experiments(config)
ENSEMBLES = resolve_ensembles(config, EXPERIMENTS)
# (task, name) of every scored prediction table: trained experiments, then ensembles.
TRAINED = [(task, name) for name, e in EXPERIMENTS.items() for task in e["tasks"]] + [
    (task, name) for name, e in ENSEMBLES.items() for task in e["tasks"]
]
SUBMITTED = resolve_submitted_experiments(config, {**EXPERIMENTS, **ENSEMBLES})
MTL_EXPERIMENTS = [name for name, e in EXPERIMENTS.items() if e["mtl"]]


def resolve_mtl_submission(config):
    if MTL not in config["tasks"]:
        return None
    name = config["submission"].get(MTL) or (
        MTL_EXPERIMENTS[0] if MTL_EXPERIMENTS else None
    )
    if name is not None and name not in MTL_EXPERIMENTS:
        raise ConfigError(
            f"config.yaml: submission.mtl is {name!r}, but the experiments that train the mtl challenge are: "
            f"{', '.join(MTL_EXPERIMENTS) or 'none'}"
        )
    return name


MTL_SUBMITTED = resolve_mtl_submission(config)


wildcard_constraints:
    task="|".join(TASKS),
    shard=r"\d+of\d+",
    backbone="|".join(config["backbones"]),
    experiment="|".join(EXPERIMENTS),
    target="|".join([*TASKS, MULTITASK, MTL]),
    fold=r"\d+",
    seed=r"\d+",
    ensemble="|".join(ENSEMBLES) or "(?!)",


def script_fingerprint(name):
    """Param that reruns a rule when its script or the project code it imports changes (not on comments)."""
    return code_fingerprint(Path(workflow.basedir) / "workflow_scripts" / name)


def face_tables(wildcards=None):
    return expand("results/faces/shard{shard}.parquet", shard=SHARD_NAMES)


def backbone_shards(wildcards):
    return expand(
        "results/features/{backbone}/shard{shard}.parquet",
        backbone=wildcards.backbone,
        shard=SHARD_NAMES,
    )


# The keys the feature stage reads of a backbone (the fine-tuning and MAE recipes are not among them).
FEATURE_KEYS = (
    "format",
    "architecture",
    "path",
    "output",
    "output_width",
    "channels",
    "checkpoint",
    "allow_random_weights",
    "seed",
    "model_options",
    "input_size",
    "mean",
    "std",
    "batch_size",
)


def feature_keys(spec):
    return {key: spec[key] for key in FEATURE_KEYS if key in spec}


def resolved_backbone(name):
    """A backbone's spec as the feature stage reads it. An MAE backbone is its timm ViT plus the weights
    pretrain_mae writes; a fine-tuned one is its base's spec plus the weights fine_tune_backbone writes.
    """
    spec = config["backbones"][name]
    if spec.get("format") == "mae":
        return {
            **feature_keys(spec),
            "format": "timm",
            "weights": f"results/backbones/{name}/mae.pt",
        }
    if spec.get("format") != "fine_tuned":
        return feature_keys(spec)
    base = spec.get("base")
    if (
        base not in config["backbones"]
        or config["backbones"][base].get("format") == "fine_tuned"
    ):
        raise ConfigError(
            f"config.yaml: backbones.{name}.base is {base!r}; it must name a backbone that is not itself "
            f"fine-tuned (defined: {', '.join(config['backbones'])})"
        )
    if spec.get("task") not in TASKS:
        raise ConfigError(
            f"config.yaml: backbones.{name}.task must be one of the tasks run ({', '.join(TASKS)})"
        )
    return {
        **resolved_backbone(base),
        "output_width": spec["output_width"],
        "weights": f"results/backbones/{name}/fine_tuned.pt",
        "features": spec.get("features", "backbone"),
    }


def backbone_spec(wildcards):
    return resolved_backbone(wildcards.backbone)


def backbone_weights(wildcards):
    """The fine-tuned weights a backbone's feature extraction needs, if any."""
    return [
        path for path in [resolved_backbone(wildcards.backbone).get("weights")] if path
    ]


def fine_tuning_base(wildcards):
    name = config["backbones"][wildcards.backbone]["base"]
    return {"name": name, **resolved_backbone(name)}


def mae_spec(wildcards):
    spec = config["backbones"][wildcards.backbone]
    return {**feature_keys(spec), "mae": spec["mae"]}


def fine_tuning_base_weights(wildcards):
    """An MAE base's pre-trained weights, which fine-tuning starts from."""
    return [
        p
        for p in [
            resolved_backbone(config["backbones"][wildcards.backbone]["base"]).get(
                "weights"
            )
        ]
        if p
    ]


def fine_tuning_labels(wildcards):
    return f"results/index/labels_{config['backbones'][wildcards.backbone]['task']}.parquet"


def experiment_feature_tables(wildcards):
    return expand(
        "results/features/{backbone}.parquet",
        backbone=EXPERIMENTS[wildcards.experiment]["backbones"],
    )


def experiment_model(wildcards):
    return EXPERIMENTS[wildcards.experiment]["model"]


def target_tasks(wildcards):
    """The tasks one training target covers: a task, every task of a multi-task experiment, or the
    three tasks of the MTL challenge."""
    if wildcards.target == MTL:
        return MTL_TASKS
    experiment = EXPERIMENTS[wildcards.experiment]
    return [
        task
        for task in experiment["tasks"]
        if experiment["targets"][task] == wildcards.target
    ]


def target_labels(wildcards):
    folder = "results/mtl/index" if wildcards.target == MTL else "results/index"
    return expand(f"{folder}/labels_{{task}}.parquet", task=target_tasks(wildcards))


def target_splits(wildcards):
    if wildcards.target == MTL:
        return "results/mtl/index/splits.parquet"
    return "results/index/splits.parquet"


def target_feature_tables(wildcards):
    if wildcards.target == MTL:
        return mtl_feature_tables(wildcards)
    return experiment_feature_tables(wildcards)


def mtl_feature_tables(wildcards):
    return expand(
        "results/mtl/features/{backbone}.parquet",
        backbone=EXPERIMENTS[wildcards.experiment]["backbones"],
    )


def mtl_models(wildcards):
    return [
        f"{run_folder(wildcards.experiment, MTL, fold, seed)}/model.pt"
        for fold, seed in EXPERIMENTS[wildcards.experiment]["runs"]
    ]


def training_recipe(wildcards):
    """The experiment's recipe for one run: its seed and fold, and the losses of the target's tasks."""
    experiment = EXPERIMENTS[wildcards.experiment]
    tasks = target_tasks(wildcards)
    return {
        **experiment["recipe"],
        "seed": int(wildcards.seed),
        "fold": int(wildcards.fold),
        "folds": experiment["folds"],
        "losses": {
            task: experiment["losses"][task]
            for task in tasks
            if task in experiment["losses"]
        },
        "loss_weights": {
            task: w for task, w in experiment["loss_weights"].items() if task in tasks
        },
    }


def run_folder(experiment, target, fold, seed):
    return f"results/models/{experiment}/{target}/fold{fold}_seed{seed}"


def experiment_models(wildcards):
    """Every trained model (fold x seed) the predictions of one task of one experiment average."""
    experiment = EXPERIMENTS[wildcards.experiment]
    target = experiment["targets"][wildcards.task]
    return [
        f"{run_folder(wildcards.experiment, target, fold, seed)}/model.pt"
        for fold, seed in experiment["runs"]
    ]


def experiment_window(wildcards):
    recipe = EXPERIMENTS[wildcards.experiment]["recipe"]
    return {"window": recipe["window"], "stride": recipe["stride"]}


def experiment_postprocess(wildcards):
    return EXPERIMENTS[wildcards.experiment]["postprocess"]


def ensemble_postprocess(wildcards):
    return ENSEMBLES[wildcards.ensemble]["postprocess"]


def mtl_outputs(wildcards=None):
    """The MTL challenge's metrics and submission, when some experiment trains it."""
    if not MTL_EXPERIMENTS:
        return []
    return ["results/metrics/mtl.md", "results/submission/mtl.txt"]


def all_predictions(wildcards=None):
    return [f"results/predictions/{task}/{name}.parquet" for task, name in TRAINED]


def ensemble_member_predictions(wildcards):
    return [
        f"results/predictions/{wildcards.task}/{member}.parquet"
        for member in ENSEMBLES[wildcards.ensemble]["members"]
    ]


def submitted_predictions(wildcards):
    return f"results/predictions/{wildcards.task}/{SUBMITTED[wildcards.task]}.parquet"


def submission_files(wildcards=None):
    if config["submission"].get("format", "abaw5") == "abaw3":
        return expand("results/submission/abaw3/{task}", task=TASKS)
    return expand("results/submission/{task}.txt", task=TASKS)

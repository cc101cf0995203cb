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
TASKS = config["tasks"]
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
)


def resolve_experiments(config):
    """Each experiment with its tasks and full recipe (`training` overridden by the experiment's `recipe`)."""
    experiments = {}
    for name, experiment in config["experiments"].items():
        for backbone in experiment["backbones"]:
            if backbone not in config["backbones"]:
                raise ConfigError(
                    f"config.yaml: experiments.{name}.backbones names {backbone!r}, which is not under "
                    f"backbones (defined: {', '.join(config['backbones'])})"
                )
        tasks = [task for task in experiment.get("tasks", TASKS) if task in TASKS]
        experiments[name] = {
            "tasks": tasks,
            "backbones": experiment["backbones"],
            "model": {"fusion": experiment["fusion"], "encoder": experiment["encoder"]},
            "losses": experiment["losses"],
            "recipe": {
                key: experiment["recipe"].get(key, config["training"][key])
                for key in RECIPE_KEYS
            },
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
        ensembles[name] = {"members": members, "weights": weights, "tasks": tasks}
    return ensembles


EXPERIMENTS = resolve_experiments(config)
ENSEMBLES = resolve_ensembles(config, EXPERIMENTS)
# (task, name) of every scored prediction table: trained experiments, then ensembles.
TRAINED = [(task, name) for name, e in EXPERIMENTS.items() for task in e["tasks"]] + [
    (task, name) for name, e in ENSEMBLES.items() for task in e["tasks"]
]
SUBMITTED = resolve_submitted_experiments(config, {**EXPERIMENTS, **ENSEMBLES})


wildcard_constraints:
    task="|".join(TASKS),
    shard=r"\d+of\d+",
    backbone="|".join(config["backbones"]),
    experiment="|".join(EXPERIMENTS),
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


def backbone_spec(wildcards):
    return config["backbones"][wildcards.backbone]


def experiment_feature_tables(wildcards):
    return expand(
        "results/features/{backbone}.parquet",
        backbone=EXPERIMENTS[wildcards.experiment]["backbones"],
    )


def experiment_model(wildcards):
    return EXPERIMENTS[wildcards.experiment]["model"]


def experiment_recipe(wildcards):
    """The experiment's recipe for one task, with that task's loss when the experiment names one."""
    experiment = EXPERIMENTS[wildcards.experiment]
    loss = experiment["losses"].get(wildcards.task)
    return {**experiment["recipe"], "loss": loss} if loss else experiment["recipe"]


def experiment_window(wildcards):
    recipe = EXPERIMENTS[wildcards.experiment]["recipe"]
    return {"window": recipe["window"], "stride": recipe["stride"]}


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
    return expand("results/submission/{task}.txt", task=TASKS)

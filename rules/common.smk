from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

try:
    from abawflow.code_fingerprint import code_fingerprint
    from abawflow.dataset_files import (
        aff_wild2_index_files,
        aff_wild2_subject_names,
        aff_wild2_videos,
        fingerprint_files,
    )
    from abawflow.plan import (
        MTL,
        MTL_TASKS,
        canonical,
        compile_plan,
        load_schema,
        validate_config,
    )
except ModuleNotFoundError as error:
    raise WorkflowError(
        f"the abawflow package is not installed in this Python ({error}); run `make venv`, "
        "or `pip install --no-deps -e .` in the repository"
    ) from None

# The schema check fills in every default, in place: the scripts read execution-only settings
# (batch sizes, device) from this config (abawflow/execution.py).
validate_config(config, load_schema(Path(workflow.basedir) / "config.schema.yaml"))
PLAN = compile_plan(config, validate=False)

DATASET_ROOT = PLAN.dataset_root
TASKS = list(PLAN.tasks)
SHARD_NAMES = list(PLAN.shard_names)
MTL_ROOT = config["mtl"]["root"]


wildcard_constraints:
    task="|".join(TASKS),
    shard=r"\d+of\d+",
    backbone="|".join(PLAN.backbones),
    experiment="|".join(PLAN.experiments),
    target="|".join([*TASKS, "multitask", MTL]),
    fold=r"\d+",
    seed=r"\d+",
    ensemble="|".join(PLAN.ensembles) or "(?!)",


def script_fingerprint(name):
    """Param that reruns a rule when its script or the project code it imports changes (not on comments)."""
    return code_fingerprint(Path(workflow.basedir) / "workflow_scripts" / name)


def config_params(*keys):
    """The config value at `keys` in canonical form (sorted keys), for a rule param."""
    value = config
    for key in keys:
        value = value[key]
    return canonical(value)


# Dataset roots that a rule of this workflow generates: their generator settings identify their files
# (at planning time, before the rule has run, they do not exist yet).
GENERATED_ROOTS = {"resources/demo": "demo", "resources/demo_mtl": "demo"}


def dataset_files():
    """Fingerprint of the files index_annotations reads, so that it reruns when one is added, removed
    or edited (the root folder's time stamp does not show that)."""
    if DATASET_ROOT in GENERATED_ROOTS:
        return config_params(GENERATED_ROOTS[DATASET_ROOT])
    dataset = config["dataset"]
    return fingerprint_files(
        DATASET_ROOT,
        aff_wild2_index_files(
            DATASET_ROOT,
            dataset["annotation_folder"],
            dataset["challenge_folders"],
            dataset["test_lists"],
            dataset["video_folder"],
            TASKS,
        ),
    )


def dataset_subjects():
    """What the subjects table (and so face detection) depends on: the subject names the annotation
    files and test lists give, and the videos; not the labels."""
    if DATASET_ROOT in GENERATED_ROOTS:
        return config_params(GENERATED_ROOTS[DATASET_ROOT])
    dataset = config["dataset"]
    names = aff_wild2_subject_names(
        DATASET_ROOT,
        dataset["annotation_folder"],
        dataset["challenge_folders"],
        dataset["test_lists"],
        TASKS,
    )
    return fingerprint_files(
        DATASET_ROOT, aff_wild2_videos(DATASET_ROOT, dataset["video_folder"]), names
    )


def mtl_dataset_files():
    """The same for index_mtl: its annotation files and test list."""
    if MTL_ROOT in GENERATED_ROOTS:
        return config_params(GENERATED_ROOTS[MTL_ROOT])
    files = [*config["mtl"]["annotation_files"].values(), config["mtl"]["test_list"]]
    return fingerprint_files(MTL_ROOT, [Path(MTL_ROOT) / name for name in files])


def face_tables(wildcards=None):
    return expand("results/faces/shard{shard}.parquet", shard=SHARD_NAMES)


def backbone_shards(wildcards):
    return expand(
        "results/features/{backbone}/shard{shard}.parquet",
        backbone=wildcards.backbone,
        shard=SHARD_NAMES,
    )


def backbone_spec(wildcards):
    return canonical(PLAN.backbones[wildcards.backbone].feature_spec)


def backbone_weights(wildcards):
    """The trained weights (fine-tuning, MAE) a backbone's feature extraction needs, if any."""
    return trained_weights(wildcards.backbone)


def fine_tuning_base(wildcards):
    base = PLAN.backbones[wildcards.backbone].base
    return canonical({"name": base, **PLAN.backbones[base].feature_spec})


def trained_weights(backbone):
    weights = PLAN.backbones[backbone].weights
    return [weights] if weights else []


def fine_tuning_base_weights(wildcards):
    """An MAE base's pre-trained weights, which fine-tuning starts from."""
    return trained_weights(PLAN.backbones[wildcards.backbone].base)


def fine_tuning_task(wildcards):
    return PLAN.backbones[wildcards.backbone].task


def fine_tuning_recipe(wildcards):
    return canonical(PLAN.backbones[wildcards.backbone].fine_tuning)


def fine_tuning_labels(wildcards):
    return f"results/index/labels_{fine_tuning_task(wildcards)}.parquet"


def mae_spec(wildcards):
    backbone = PLAN.backbones[wildcards.backbone]
    spec = {
        key: value for key, value in backbone.feature_spec.items() if key != "weights"
    }
    return canonical({**spec, "format": backbone.format, "mae": backbone.mae})


def experiment_feature_tables(wildcards):
    return expand(
        "results/features/{backbone}.parquet",
        backbone=PLAN.experiments[wildcards.experiment].backbones,
    )


def experiment_model(wildcards):
    return canonical(PLAN.experiments[wildcards.experiment].model)


def target_tasks(wildcards):
    return list(PLAN.target_tasks(wildcards.experiment, wildcards.target))


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
        backbone=PLAN.experiments[wildcards.experiment].backbones,
    )


def run_folder(experiment, target, fold, seed):
    return f"results/models/{experiment}/{target}/fold{fold}_seed{seed}"


def mtl_models(wildcards):
    return [
        f"{run_folder(wildcards.experiment, MTL, fold, seed)}/model.pt"
        for fold, seed in PLAN.experiments[wildcards.experiment].runs
    ]


def training_recipe(wildcards):
    return PLAN.training_recipe(
        wildcards.experiment, wildcards.target, wildcards.fold, wildcards.seed
    )


def experiment_models(wildcards):
    """Every trained model (fold x seed) the predictions of one task of one experiment average."""
    experiment = PLAN.experiments[wildcards.experiment]
    target = experiment.targets[wildcards.task]
    return [
        f"{run_folder(wildcards.experiment, target, fold, seed)}/model.pt"
        for fold, seed in experiment.runs
    ]


def experiment_window(wildcards):
    recipe = PLAN.experiments[wildcards.experiment].recipe
    return {"stride": recipe["stride"], "window": recipe["window"]}


def experiment_postprocess(wildcards):
    return canonical(PLAN.experiments[wildcards.experiment].postprocess)


def ensemble_members(wildcards):
    return list(PLAN.ensembles[wildcards.ensemble].members)


def ensemble_weights(wildcards):
    return list(PLAN.ensembles[wildcards.ensemble].weights)


def ensemble_postprocess(wildcards):
    return canonical(PLAN.ensembles[wildcards.ensemble].postprocess)


def mtl_outputs(wildcards=None):
    """The MTL challenge's metrics and submission, when some experiment trains it."""
    if not PLAN.mtl_experiments:
        return []
    return ["results/metrics/mtl.md", "results/submission/mtl.txt"]


def all_predictions(wildcards=None):
    return [f"results/predictions/{task}/{name}.parquet" for task, name in PLAN.scored]


def ensemble_member_predictions(wildcards):
    return [
        f"results/predictions/{wildcards.task}/{member}.parquet"
        for member in PLAN.ensembles[wildcards.ensemble].members
    ]


def submitted_predictions(wildcards):
    return (
        f"results/predictions/{wildcards.task}/{PLAN.submitted[wildcards.task]}.parquet"
    )


def submission_files(wildcards=None):
    if PLAN.submission_format == "abaw3":
        return expand("results/submission/abaw3/{task}", task=TASKS)
    return expand("results/submission/{task}.txt", task=TASKS)

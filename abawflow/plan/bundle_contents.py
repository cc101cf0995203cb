"""What a model bundle holds, planned before any file exists: the face settings, and per Aff-Wild2 task the
experiment or ensemble it submits (or one the config names), its members' windows, smoothing and runs, and
their backbones' feature specs. abawflow.predict.bundle writes and reads the bundle folder."""

from abawflow.core.errors import ConfigError
from abawflow.plan.compiler import canonical

# The face stage's settings a bundle carries: prediction on any video detects and aligns as the run did.
FACE_KEYS = ("detector", "detector_model_path", "score_threshold", "detector_input_size", "crop_size", "jpeg_quality")


def bundle_plan(plan, faces, tasks=(), names=None):
    """What a bundle of ``plan`` holds, before any file exists (a rule's params, canonical: keys sorted): the face
    settings, and per task (default: Aff-Wild2's tasks run) the experiment or ensemble ``names`` gives it, else
    the submitted one."""
    names = dict(names or {})
    run = plan.dataset_tasks("aff_wild2")
    tasks = list(tasks) or list(run)
    for task in [*tasks, *names]:
        if task not in run:
            raise ConfigError(
                f"config.yaml: bundle names task {task!r}; a bundle holds tasks of Aff-Wild2 that the config runs "
                f"({', '.join(run)})"
            )
    bundled_tasks, experiments = {}, {}
    for task in tasks:
        name = names.get(task) or plan.challenges[task].submitted
        if name in plan.ensembles:
            ensemble = plan.ensembles[name]
            entry = {
                "name": name,
                "members": list(ensemble.members),
                "weights": list(ensemble.weights),  # replaced by the chosen ones where chosen on validation
                "weighting": ensemble.weighting["name"],
                "smoothing": int(ensemble.postprocess.get("smoothing", 0)),
            }
            if ensemble.cascade:
                entry["cascade"] = dict(ensemble.cascade)
        elif name in plan.experiments:
            entry = {"name": name, "members": [name], "weights": [1.0], "smoothing": 0}
        else:
            raise ConfigError(
                f"config.yaml: bundle.models.{task} is {name!r}, which is neither an experiment nor an ensemble"
            )
        for member in [*entry["members"], *([entry["cascade"]["negative"]] if "cascade" in entry else [])]:
            experiment = plan.experiments[member]
            if task not in experiment.tasks:
                raise ConfigError(f"config.yaml: bundle.models.{task}: experiment {member!r} does not train {task}")
            shipped = [b for b in experiment.backbones if plan.backbones[b].format == "precomputed"]
            if shipped:
                raise ConfigError(
                    f"config.yaml: bundle.models.{task}: experiment {member!r} reads the precomputed backbone "
                    f"{shipped[0]!r}, which exists only for the dataset's own videos; a bundle runs on any video"
                )
            recipe = experiment.recipe
            record = experiments.setdefault(
                member,
                {
                    "backbones": list(experiment.backbones),
                    "window": recipe["window"],
                    "stride": recipe["stride"],
                    "clip_steps": recipe["clip_steps"],
                    "smoothing": int(experiment.postprocess.get("smoothing", 0)),
                    "runs": [list(run) for run in experiment.runs],
                    "targets": {},
                },
            )
            record["targets"][task] = experiment.targets[task]
        bundled_tasks[task] = entry
    backbones = sorted({b for record in experiments.values() for b in record["backbones"]})
    return canonical(
        {
            "faces": {key: faces[key] for key in FACE_KEYS},
            "tasks": bundled_tasks,
            "experiments": experiments,
            "backbones": {name: plan.backbones[name].feature_spec for name in backbones},
        }
    )


def bundle_runs(contents):
    """(experiment, target, fold, seed) of every run a bundle holds."""
    return [
        (experiment, target, fold, seed)
        for experiment, record in contents["experiments"].items()
        for target in dict.fromkeys(record["targets"].values())
        for fold, seed in record["runs"]
    ]

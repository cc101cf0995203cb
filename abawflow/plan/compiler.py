"""The config plan: the whole config, validated against the schema and compiled once into frozen objects.

Every cross-key check and every derived default lives here, so it can be tested without Snakemake;
abawflow.plan.workflow answers the rules from the compiled `Plan`. Values handed to rules as params go
through `canonical()`, so a config that differs only in key order replans nothing.
"""

import copy
from dataclasses import dataclass, field
from types import MappingProxyType

from abawflow.challenges.registry import CHALLENGES
from abawflow.core.errors import ConfigError
from abawflow.datasets.editions import check_edition_names
from abawflow.datasets.registry import DATASETS, has_transcripts
from abawflow.plan import paths
from abawflow.plan.schema import validate_config
from abawflow.tasks.specs import get_task

MTL = "mtl"  # the MTL challenge (s-Aff-Wild2 crops), and the training target of its experiments
MULTITASK = "multitask"  # the training target of an experiment whose framework trains its tasks jointly
MULTITASK_FRAMEWORKS = ("basic", "share_bottom", "feedback")
SINGLE_TASK_FRAMEWORKS = ("single", "audio_visual")  # one model per task

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
    "clip_steps",
)
# The keys of a backbone that decide its features. batch_size is not among them: it changes the
# speed, not the result (abawflow.core.execution reads it).
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
    "patch_token_grid",
    "input_size",
    "mean",
    "std",
    "precision",
)


def _joint(name):
    """Whether ``name`` is a challenge whose tasks one model trains together (its own training target)."""
    return name in CHALLENGES and CHALLENGES[name].joint


def canonical(value):
    """Plain dicts with sorted keys and lists, recursively: the form rule params take, so that their
    comparison (Snakemake's params rerun trigger) does not depend on the config's key order."""
    if isinstance(value, dict | MappingProxyType):
        return {str(key): canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value


def frozen(value):
    """A read-only view of nested config values (mappings become mapping proxies, lists tuples)."""
    if isinstance(value, dict | MappingProxyType):
        return MappingProxyType({key: frozen(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(item) for item in value)
    return value


# --- plan objects ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backbone:
    """One frame-level feature extractor as the feature stage reads it."""

    name: str
    format: str  # as configured: timm, onnx, torchscript, keras_hdf5, fine_tuned, mae, audio, text
    feature_spec: MappingProxyType  # the FEATURE_KEYS (plus weights and features for trained ones)
    weights: str | None  # the file a pipeline rule trains for it (fine-tuning or MAE), if any
    base: str | None = None  # fine_tuned: the backbone it starts from
    task: str | None = None  # fine_tuned: the task it learns
    fine_tuning: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    mae: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    @property
    def modality(self):
        """audio (features of the sound track, rule extract_audio_features), text (of the transcript, rule
        extract_text_features) or vision (of the face crops); a precomputed table's as configured."""
        if self.format == "precomputed":
            return self.feature_spec["precomputed"]["modality"]
        return self.format if self.format in ("audio", "text") else "vision"

    @property
    def stage_rule(self):
        """The rule that writes its feature table (extract_features's shards are merged into it)."""
        return {
            "audio": "extract_audio_features",
            "text": "extract_text_features",
            "precomputed": "read_precomputed_features",
        }.get(self.format, "extract_features")

    @property
    def training(self):
        """The rule that trains its weights (fine_tune_backbone or pretrain_mae), or None."""
        return {"fine_tuned": "fine_tune_backbone", "mae": "pretrain_mae"}.get(self.format)


@dataclass(frozen=True)
class Experiment:
    name: str
    tasks: tuple  # the tasks it trains one model each or together (not those of a joint challenge)
    challenges: tuple  # the challenges it predicts, in the plan's order
    backbones: tuple
    model: MappingProxyType  # fusion, encoder, framework (without loss_weights), heads
    losses: MappingProxyType
    loss_weights: MappingProxyType
    recipe: MappingProxyType  # exactly RECIPE_KEYS
    runs: tuple  # (fold, seed) pairs
    folds: int
    targets: MappingProxyType  # task -> training target (the task, or multitask)
    postprocess: MappingProxyType

    @property
    def training_targets(self):
        """Every training target: its tasks' targets, then each joint challenge it predicts (trained as one)."""
        joint = [name for name in self.challenges if CHALLENGES[name].joint]
        return tuple(dict.fromkeys([*(self.targets[task] for task in self.tasks), *joint]))

    def prediction_target(self, challenge):
        """The training target whose models predict ``challenge``."""
        return challenge if CHALLENGES[challenge].joint else self.targets[challenge]


@dataclass(frozen=True)
class Ensemble:
    name: str
    members: tuple
    weights: tuple
    challenges: tuple  # the challenges whose predictions it averages
    postprocess: MappingProxyType
    weighting: MappingProxyType  # {name: fixed} or {name: greedy, folds, rounds}
    cascade: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # {negative, routing} or {}


@dataclass(frozen=True)
class ChallengeRun:
    """One challenge the plan runs: its tasks, what predicts it, and what it submits."""

    name: str
    tasks: tuple  # the tasks whose outputs its prediction tables hold (abawflow/challenges/registry.py)
    experiments: tuple  # by name
    ensembles: tuple  # by name
    submitted: str  # the experiment or ensemble whose predictions are its submission
    trials: tuple = ()  # more entries: the experiments or ensembles of trial-0, trial-1, ... (submission.trials)

    @property
    def scored(self):
        """Its experiments, then its ensembles: every prediction table scored on validation."""
        return self.experiments + self.ensembles


@dataclass(frozen=True)
class Plan:
    challenges: MappingProxyType  # name -> ChallengeRun: the challenges run, the video tasks' first
    shards: int
    backbones: MappingProxyType  # name -> Backbone
    experiments: MappingProxyType  # name -> Experiment
    ensembles: MappingProxyType  # name -> Ensemble
    submission_format: str
    dataset_roots: MappingProxyType  # dataset (abawflow/datasets/registry.py) -> its root
    face_sources: MappingProxyType  # dataset -> where its faces come from: detected or cropped_aligned
    left_out: MappingProxyType = field(
        default_factory=lambda: MappingProxyType({})
    )  # section -> names the config defines that do not run
    preset: str | None = None  # the method preset beneath the config's own methods

    def dataset_tasks(self, dataset):
        """The tasks run on ``dataset`` by challenges of one task each: what its index labels (for Aff-Wild2,
        what fine-tuning may learn and what a bundle holds)."""
        return tuple(
            name for name in self.challenges if CHALLENGES[name].dataset == dataset and not CHALLENGES[name].joint
        )

    @property
    def datasets(self):
        """The datasets the run's challenges read, in challenge order."""
        return tuple(dict.fromkeys(CHALLENGES[name].dataset for name in self.challenges))

    @property
    def shard_names(self):
        return tuple(f"{index}of{self.shards}" for index in range(self.shards))

    @property
    def scored(self):
        """(challenge, name) of every scored prediction table: per challenge its experiments, then its
        ensembles, each by name, so that the order does not depend on the order of keys in the config."""
        return tuple((challenge, name) for challenge, run in self.challenges.items() for name in run.scored)

    def inputs(self, name):
        """What an experiment fuses, as paper 002's Table 1 names it: V (faces), A (sound), A+V, and A+V+AV
        with the audio-visual interaction encoder; an ensemble is the mean of its members."""
        if name in self.ensembles:
            ensemble = self.ensembles[name]
            chosen = WEIGHTING_LABELS[ensemble.weighting["name"]]
            if ensemble.cascade:
                coarse = "coarse" if len(ensemble.members) == 1 else f"{chosen} of {len(ensemble.members)} coarse"
                return f"cascade ({coarse}, then negative)"
            return f"{chosen} of {len(ensemble.members)}"
        experiment = self.experiments[name]
        present = {self.backbones[backbone].modality for backbone in experiment.backbones}
        letters = (("audio", "A"), ("vision", "V"), ("text", "T"))
        label = "+".join(letter for modality, letter in letters if modality in present)
        framework = experiment.model["framework"]
        if framework["name"] == "audio_visual" and framework.get("interaction", True) and len(present) == 2:
            label += "+AV"
        return label

    def target_tasks(self, experiment, target):
        """The tasks one training target covers: a task, every task of a multi-task experiment, or the tasks
        of a joint challenge."""
        if _joint(target):
            return CHALLENGES[target].tasks
        spec = self.experiments[experiment]
        return tuple(task for task in spec.tasks if spec.targets[task] == target)

    def target_challenge(self, experiment, target):
        """The challenge whose data a training target reads: a joint challenge itself, or the challenge of the
        target's first task (the challenges of one dataset share its index and feature tables)."""
        if _joint(target):
            return CHALLENGES[target]
        return CHALLENGES[self.target_tasks(experiment, target)[0]]

    def training_recipe(self, experiment, target, fold, seed):
        """The recipe of one run: the experiment's recipe, its seed and fold, and the target tasks' losses."""
        spec = self.experiments[experiment]
        tasks = self.target_tasks(experiment, target)
        return canonical(
            {
                **spec.recipe,
                "seed": int(seed),
                "fold": int(fold),
                "folds": spec.folds,
                "losses": {task: spec.losses[task] for task in tasks if task in spec.losses},
                "loss_weights": {task: w for task, w in spec.loss_weights.items() if task in tasks},
            }
        )


# --- compilation ----------------------------------------------------------------------------------


def compile_plan(config, validate=True):
    """The plan of a config (a dict as read from YAML). With `validate`, the schema check and its defaults
    run first (on a copy; the caller's dict is not changed)."""
    config = copy.deepcopy(config)
    if validate:
        validate_config(config)
    tasks = tuple(task for task in config["tasks"] if task != MTL)
    aff_wild2_tasks = [task for task in tasks if CHALLENGES[task].dataset == "aff_wild2"]
    if aff_wild2_tasks:
        check_edition_names(config["dataset"], aff_wild2_tasks)
    running = _running_experiments(config, tasks)
    used = _used_backbones(config["backbones"], running)
    backbones = _compile_backbones({name: config["backbones"][name] for name in used}, config["backbones"], tasks)
    experiments = _compile_experiments(config, running, tasks, backbones)
    ensembles = _compile_ensembles(
        config.get("ensembles", {}), config["experiments"], experiments, tasks, MTL in config["tasks"]
    )
    ensembles = {name: ensemble for name, ensemble in ensembles.items() if ensemble.challenges}
    _check_submission_keys(config)
    submitted = _compile_submission(config["submission"], tasks, {**experiments, **ensembles})
    joint = _compile_joint_submission(config, MTL, experiments, ensembles)
    if joint:
        submitted[MTL] = joint
    trials = _compile_trials(config["submission"], submitted, {**experiments, **ensembles})
    for experiment in experiments.values():
        check_components(experiment)
    _check_video_decoding(config)
    challenges = {
        name: ChallengeRun(
            name=name,
            tasks=CHALLENGES[name].tasks,
            experiments=tuple(sorted(n for n, e in experiments.items() if name in e.challenges)),
            ensembles=tuple(sorted(n for n, e in ensembles.items() if name in e.challenges)),
            submitted=submitted[name],
            trials=trials.get(name, ()),
        )
        for name in submitted
    }
    return Plan(
        challenges=MappingProxyType(challenges),
        shards=config["faces"]["shards"],
        backbones=MappingProxyType(backbones),
        experiments=MappingProxyType(experiments),
        ensembles=MappingProxyType(ensembles),
        submission_format=config["submission"].get("format", "abaw5"),
        dataset_roots=MappingProxyType(
            {name: config[dataset.config_section]["root"] for name, dataset in DATASETS.items()}
        ),
        face_sources=MappingProxyType(_compile_face_sources(config)),
        left_out=frozen(
            {
                "backbones": tuple(name for name in config["backbones"] if name not in backbones),
                "experiments": tuple(name for name in config["experiments"] if name not in experiments),
                "ensembles": tuple(name for name in config.get("ensembles", {}) if name not in ensembles),
            }
        ),
        preset=config.get("methods"),
    )


def _listed_tasks(experiment, tasks):
    """The tasks an experiment lists; without a tasks key, the Aff-Wild2 tasks of the run."""
    return experiment.get("tasks", [task for task in tasks if CHALLENGES[task].dataset == "aff_wild2"])


def _running_experiments(config, tasks):
    """The experiments that train a task of the run (``tasks``, or the MTL challenge where it is run)."""
    run = set(tasks) | ({MTL} & set(config["tasks"]))
    return {name: spec for name, spec in config["experiments"].items() if run & set(_listed_tasks(spec, tasks))}


def _used_backbones(configured, running):
    """The backbones a running experiment reads, and those they are fine-tuned from, in config order."""
    used = set()
    for spec in running.values():
        for name in spec["backbones"]:
            used.add(name)
            if name in configured and configured[name].get("format") == "fine_tuned":
                used.add(configured[name].get("base"))
    return [name for name in configured if name in used]


def _check_video_decoding(config):
    """NVDEC hands its frames to the torch detector on the GPU: a config that cannot have one is refused now."""
    if config.get("video_decoding", "host") != "nvdec":
        return
    faces = config["faces"]
    problem = None
    if config.get("device", "auto") == "cpu":
        problem = "device is cpu"
    elif faces["detector"] != "retinaface_mobilenet":
        problem = f"faces.detector is {faces['detector']}, which runs on onnxruntime only"
    elif faces.get("detector_backend", "auto") == "onnxruntime":
        problem = "faces.detector_backend is onnxruntime"
    if problem:
        raise ConfigError(
            f"config.yaml: video_decoding is nvdec but {problem}; NVDEC decodes on the GPU for the torch "
            "detector there (retinaface_mobilenet, detector_backend torch or auto, device auto or cuda). "
            "Set video_decoding: host."
        )


def _compile_face_sources(config):
    """Dataset -> its face source: the config's face_source where the section has one, else its only one."""
    sources = {}
    for name, dataset in DATASETS.items():
        section = dataset.config_section
        source = config[section].get("face_source", dataset.face_sources[0])
        if source not in dataset.face_sources:
            raise ConfigError(
                f"config.yaml: {section}.face_source is {source!r}; the {name} layout offers "
                f"{', '.join(dataset.face_sources)}"
            )
        sources[name] = source
    return sources


def _feature_keys(spec):
    return {key: spec[key] for key in FEATURE_KEYS if key in spec}


# The keys an audio extractor reads: deep_spectrum's image CNN takes a timm backbone's too.
AUDIO_BASE_KEYS = ("format", "extractor", "audio", "output_width")
TIMM_KEYS = tuple(key for key in FEATURE_KEYS if key not in ("format", "path", "output", "output_width", "channels"))
AUDIO_KEYS = {
    "log_mel_statistics": AUDIO_BASE_KEYS,
    "deep_spectrum": AUDIO_BASE_KEYS + TIMM_KEYS,
    "egemaps": AUDIO_BASE_KEYS,
}


def _audio_feature_keys(name, spec):
    extractor = spec.get("extractor")
    if extractor not in AUDIO_KEYS:
        raise ConfigError(
            f"config.yaml: backbones.{name} is an audio backbone; set its extractor to one of {', '.join(AUDIO_KEYS)}"
        )
    if extractor == "deep_spectrum" and not spec.get("architecture"):
        raise ConfigError(
            f"config.yaml: backbones.{name} (deep_spectrum) needs `architecture`, the timm image CNN the "
            "spectrogram images go through (paper 002: densenet121), and its `checkpoint`"
        )
    keys = AUDIO_KEYS[extractor]
    if extractor == "log_mel_statistics" and spec["output_width"] != 2 * spec["audio"]["mels"]:
        raise ConfigError(
            f"config.yaml: backbones.{name}: log_mel_statistics gives 2 x mels = {2 * spec['audio']['mels']} "
            f"features, but output_width is {spec['output_width']}"
        )
    return {key: spec[key] for key in keys if key in spec}


# Each text extractor's own options (beside scope and window_seconds): another's are no rerun trigger.
TEXT_EXTRACTORS = {
    "hashed_words": ("width", "pairs"),
    "model2vec": ("model_folder",),
    "sentence_transformers": ("model_folder",),
}


def _text_feature_keys(name, spec):
    if spec.get("extractor") not in TEXT_EXTRACTORS:
        raise ConfigError(
            f"config.yaml: backbones.{name} is a text backbone; set its extractor to one of "
            f"{', '.join(TEXT_EXTRACTORS)}"
        )
    if "model_folder" in TEXT_EXTRACTORS[spec["extractor"]] and not spec["text"]["model_folder"]:
        raise ConfigError(
            f"config.yaml: backbones.{name}: {spec['extractor']} loads its model from text.model_folder; set it"
        )
    if spec["extractor"] == "hashed_words" and spec["output_width"] != spec["text"]["width"]:
        raise ConfigError(
            f"config.yaml: backbones.{name}: hashed_words gives text.width = {spec['text']['width']} features, "
            f"but output_width is {spec['output_width']}"
        )
    kept = ("scope", "window_seconds", *TEXT_EXTRACTORS[spec["extractor"]])
    text = {key: value for key, value in spec["text"].items() if key in kept}
    return {**{key: spec[key] for key in ("format", "extractor", "output_width")}, "text": text}


def _compile_backbones(used, configured, tasks):
    """The ``used`` backbones, compiled; ``configured`` (every backbone of the config) holds their bases."""

    def feature_spec(name):
        spec = configured[name]
        kind = spec.get("format", "timm")
        if kind == "mae":
            return {**_feature_keys(spec), "format": "timm", "weights": paths.backbone_weights(name, "mae")}
        if kind == "audio":
            return _audio_feature_keys(name, spec)
        if kind == "text":
            return _text_feature_keys(name, spec)
        if kind == "precomputed":
            return {key: spec[key] for key in ("format", "precomputed", "output_width")}
        if kind != "fine_tuned":
            return _feature_keys(spec)
        base = spec.get("base")
        if base not in configured or configured[base].get("format") in ("fine_tuned", "audio", "text", "precomputed"):
            raise ConfigError(
                f"config.yaml: backbones.{name}.base is {base!r}; it must name an image backbone that is not "
                f"itself fine-tuned (defined: {', '.join(configured)})"
            )
        if spec.get("task") not in tasks:
            raise ConfigError(
                f"config.yaml: backbones.{name}.task is {spec.get('task')!r}; it must be one of the tasks run "
                f"({', '.join(tasks)})"
            )
        return {
            **feature_spec(base),
            "output_width": spec["output_width"],
            "weights": paths.backbone_weights(name, "fine_tuned"),
            "features": spec.get("features", "backbone"),
            "precision": spec.get("precision", "auto"),
        }

    backbones = {}
    for name, spec in used.items():
        resolved = feature_spec(name)
        backbones[name] = Backbone(
            name=name,
            format=spec.get("format", "timm"),
            feature_spec=frozen(resolved),
            weights=resolved.get("weights"),
            base=spec.get("base"),
            task=spec.get("task"),
            fine_tuning=frozen(spec.get("fine_tuning", {})),
            mae=frozen(spec.get("mae", {})),
        )
    return backbones


def _compile_experiments(config, running, tasks, backbones):
    experiments = {}
    for name, experiment in running.items():
        for backbone in experiment["backbones"]:
            if backbone not in backbones:
                raise ConfigError(
                    f"config.yaml: experiments.{name}.backbones names {backbone!r}, which is not under "
                    f"backbones (defined: {', '.join(config['backbones']) or 'none'})"
                )
        listed = _listed_tasks(experiment, tasks)
        audio = [backbone for backbone in experiment["backbones"] if backbones[backbone].modality == "audio"]
        if audio and MTL in listed and MTL in config["tasks"]:
            raise ConfigError(
                f"config.yaml: experiments.{name} lists the mtl challenge and the audio backbone {audio[0]!r}; "
                "s-Aff-Wild2 holds sampled images without sound"
            )
        text = [backbone for backbone in experiment["backbones"] if backbones[backbone].modality == "text"]
        run = [task for task in listed if task in tasks or (task == MTL and MTL in config["tasks"])]
        unheard = [task for task in run if not transcript_source(CHALLENGES[task].dataset, config)]
        if text and unheard:
            raise ConfigError(
                f"config.yaml: experiments.{name} reads the text backbone {text[0]!r}, but the {unheard[0]} "
                f"challenge's dataset ({CHALLENGES[unheard[0]].dataset}) has neither transcripts nor sound to "
                "transcribe"
            )
        framework = {"name": "single", **experiment.get("framework", {})}
        multitask = framework["name"] not in SINGLE_TASK_FRAMEWORKS
        datasets = sorted({CHALLENGES[task].dataset for task in listed if task in tasks})
        if multitask and len(datasets) > 1:
            raise ConfigError(
                f"config.yaml: experiments.{name} trains one {framework['name']} model on tasks of different "
                f"datasets ({', '.join(datasets)}); list the tasks of one dataset, or use a single-task framework"
            )
        mtl = MTL in listed and MTL in config["tasks"]
        if mtl and not multitask:
            raise ConfigError(
                f"config.yaml: experiments.{name} lists the mtl challenge, which needs a multi-task "
                f"framework: set framework.name to {', '.join(MULTITASK_FRAMEWORKS[:-1])} or "
                f"{MULTITASK_FRAMEWORKS[-1]}"
            )
        if framework["name"] == "single" and (set(framework) - {"name"}):
            raise ConfigError(
                f"config.yaml: experiments.{name}.framework sets {', '.join(sorted(set(framework) - {'name'}))}, "
                f"which only multi-task frameworks ({', '.join(MULTITASK_FRAMEWORKS)}) read"
            )
        recipe = {**config["training"], **experiment.get("recipe", {})}
        trained = tuple(task for task in listed if task in tasks)
        frame_level = [task for task in trained if get_task(task).granularity == "frame"]
        pooled = {
            "recipe.clip_steps": bool(recipe["clip_steps"]),
            "framework audio_visual": framework["name"] == "audio_visual",
        }
        for setting, used in pooled.items():
            if used and frame_level:
                raise ConfigError(
                    f"config.yaml: experiments.{name} uses {setting}, which gives one output per video, on the "
                    f"frame-level task {frame_level[0]}; use it for video-level tasks (eri) only"
                )
        experiments[name] = Experiment(
            name=name,
            tasks=trained,
            challenges=trained + ((MTL,) if mtl else ()),
            backbones=tuple(experiment["backbones"]),
            model=frozen(
                {
                    "fusion": experiment["fusion"],
                    "encoder": experiment["encoder"],
                    "framework": _model_framework(framework, experiment["backbones"], backbones),
                    "heads": experiment.get("heads", {}),
                }
            ),
            losses=frozen(head_losses(name, experiment.get("heads", {}), experiment.get("losses", {}))),
            loss_weights=frozen(framework.get("loss_weights", {})),
            recipe=frozen({key: recipe[key] for key in RECIPE_KEYS}),
            runs=tuple(
                (fold, seed) for fold in range(recipe["folds"]) for seed in recipe.get("seeds") or [recipe["seed"]]
            ),
            folds=recipe["folds"],
            targets=frozen({task: MULTITASK if multitask else task for task in trained}),
            postprocess=frozen(experiment.get("postprocess", {})),
        )
    return experiments


def head_losses(name, heads, losses):
    """The experiment's losses with those its heads require (a head class's ``loss``: the negative net's
    cross-entropy, which leaves out frames of the other classes); another loss for such a head is an error."""
    import models.temporal  # noqa: F401 (registers the heads)
    from models.registry import REGISTRIES

    losses = dict(losses)
    for task, head in heads.items():
        required = getattr(REGISTRIES["head"].get(head.get("name")), "loss", None)
        if required is None:
            continue
        chosen = losses.setdefault(task, {"name": required})
        if chosen.get("name") != required:
            raise ConfigError(
                f"config.yaml: experiments.{name}.losses.{task} is {chosen.get('name')!r}, but the "
                f"{head['name']} head trains with {required!r} only; remove losses.{task}"
            )
    return losses


def _model_framework(framework, names, backbones):
    """The framework as the model factory takes it; audio_visual learns each input's modality from the plan."""
    model = {key: value for key, value in framework.items() if key != "loss_weights"}
    if framework["name"] == "audio_visual":
        model["modalities"] = [backbones[name].modality for name in names]
    return model


def _compile_ensembles(configured, defined, experiments, tasks, joint_run):
    """The ensembles whose members all run (``experiments``); one naming an experiment that is not defined at
    all (``defined``) is an error, one whose members are defined but do not all run is left out."""
    ensembles = {}
    for name, ensemble in configured.items():
        if name in defined:
            raise ConfigError(f"config.yaml: ensembles.{name} has the name of an experiment; choose another")
        members = ensemble["members"]
        unknown = [member for member in members if member not in defined]
        if unknown:
            raise ConfigError(
                f"config.yaml: ensembles.{name}.members names {', '.join(unknown)}, not under experiments "
                f"(defined: {', '.join(defined)})"
            )
        cascade = ensemble.get("cascade")
        if cascade is not None:
            _check_cascade(name, ensemble, cascade, defined)
            if cascade["negative"] not in experiments:
                continue
        if not all(member in experiments for member in members):
            continue
        weighting = ensemble.get("weighting", "fixed")
        if weighting != "fixed" and "weights" in ensemble:
            raise ConfigError(
                f"config.yaml: ensembles.{name} sets weights and weighting: {weighting}, which chooses them; drop one"
            )
        weights = ensemble.get("weights") or [1.0] * len(members)
        if len(weights) != len(members):
            raise ConfigError(f"config.yaml: ensembles.{name} has {len(members)} members but {len(weights)} weights")
        parts = [*members, cascade["negative"]] if cascade else members
        common = [task for task in tasks if all(task in experiments[m].tasks for m in parts)]
        if joint_run and all(MTL in experiments[m].challenges for m in members):
            common.append(MTL)
        covered = ensemble.get("tasks", ["expr"] if cascade else common)
        missing = [task for task in covered if task not in common and (task != MTL or joint_run)]
        if missing:
            raise ConfigError(
                f"config.yaml: ensembles.{name} covers {', '.join(missing)}, which not every member trains"
            )
        ensembles[name] = Ensemble(
            name=name,
            members=tuple(members),
            weights=tuple(float(w) for w in weights),
            challenges=tuple(name for name in [*tasks, MTL] if name in covered and (name != MTL or joint_run)),
            postprocess=frozen(ensemble.get("postprocess", {})),
            weighting=frozen(
                {"name": weighting, "folds": ensemble.get("folds", 5), "rounds": ensemble.get("rounds", 20)}
                if weighting != "fixed"
                else {"name": weighting}
            ),
            cascade=frozen({"routing": "hard", **cascade} if cascade else {}),
        )
    return ensembles


# How the score tables' "inputs" column names an ensemble's weighting.
WEIGHTING_LABELS = {
    "fixed": "mean",
    "greedy": "chosen on validation",
    "fitted": "fitted on validation",
    "chosen": "best weighting on validation",
}


def _check_cascade(name, ensemble, cascade, defined):
    """A cascade names a defined negative net that is not also a coarse member, and covers EXPR only."""
    negative = cascade["negative"]
    if negative not in defined:
        raise ConfigError(
            f"config.yaml: ensembles.{name}.cascade.negative names {negative!r}, not under experiments "
            f"(defined: {', '.join(defined)})"
        )
    if negative in ensemble["members"]:
        raise ConfigError(
            f"config.yaml: ensembles.{name}: {negative!r} is both the negative net and a coarse member; the "
            "members are the coarse net"
        )
    if ensemble.get("tasks", ["expr"]) != ["expr"]:
        raise ConfigError(f"config.yaml: ensembles.{name} is a cascade, which predicts expr only; set tasks: [expr]")


def _check_submission_keys(config):
    """A submission key for a challenge the run leaves out names nothing: most likely a challenge forgotten in
    ``tasks``."""
    for key, name in config["submission"].items():
        if key in CHALLENGES and key not in config["tasks"]:
            raise ConfigError(
                f"config: submission.{key} is {name!r}, but the {key} challenge is not run (tasks: "
                f"{', '.join(config['tasks'])}); add {key} to tasks to run it, or remove submission.{key}"
            )


def _compile_submission(configured, tasks, candidates):
    submitted = {}
    for task in tasks:
        name = configured.get(task)
        if name is None:
            name = next((n for n, e in candidates.items() if task in e.challenges), None)
        if name is None or name not in candidates or task not in candidates[name].challenges:
            training = [n for n, e in candidates.items() if task in e.challenges]
            if not training:
                raise ConfigError(
                    f"config: tasks lists {task!r}, but no experiment trains it: name one under experiments "
                    f"(methods: demo adds the demo's), or take {task} out of tasks"
                )
            raise ConfigError(
                f"config.yaml: task {task!r} has no experiment to submit: submission.{task} is {name!r}, "
                f"and the experiments training {task} are: {', '.join(training)}"
            )
        submitted[task] = name
    return submitted


def transcript_source(name, config):
    """Where text backbones get what is said in ``name``'s videos: ``files`` (its transcripts, rule
    read_transcripts), ``speech_recognition`` (its sound, rule transcribe_speech) or None (no sound either)."""
    if has_transcripts(name, config):
        return "files"
    return "speech_recognition" if DATASETS[name].sound else None


def _compile_trials(configured, submitted, candidates):
    """Each challenge's trial entries, checked: a challenge the run submits, names that predict it."""
    trials = {}
    for challenge, names in configured.get("trials", {}).items():
        where = f"config: submission.trials.{challenge}"
        if challenge not in submitted:
            raise ConfigError(f"{where}: the {challenge} challenge is not run (tasks: {', '.join(submitted)})")
        if configured.get("format") == "abaw3" and CHALLENGES[challenge].dataset == "aff_wild2":
            raise ConfigError(f"{where}: trial files are single files; set submission.format to abaw5")
        predicting = [name for name, candidate in candidates.items() if challenge in candidate.challenges]
        for name in names:
            if name not in predicting:
                raise ConfigError(
                    f"{where} lists {name!r}, which does not predict {challenge} (those that do: "
                    f"{', '.join(predicting)})"
                )
        trials[challenge] = tuple(names)
    return trials


def _compile_joint_submission(config, challenge, experiments, ensembles):
    """What a joint challenge (MTL) submits, or None where it is not run or no experiment trains it."""
    if challenge not in config["tasks"]:
        return None
    trained = tuple(name for name, e in experiments.items() if challenge in e.challenges)
    averaged = tuple(name for name, e in ensembles.items() if challenge in e.challenges)
    name = config["submission"].get(challenge) or (trained[0] if trained else None)
    if name is not None and name not in trained + averaged:
        raise ConfigError(
            f"config.yaml: submission.{challenge} is {name!r}, but the experiments and ensembles of the {challenge} "
            f"challenge are: {', '.join(trained + averaged) or 'none'}"
        )
    return name


# What the code passes to each kind of component itself; a config sets the other arguments.
SUPPLIED_ARGUMENTS = {
    "fusion": ("input_widths",),
    "encoder": ("input_width",),
    "head": ("input_width", "head_size"),
    "framework": ("fusion", "encoder_config", "head_sizes", "heads"),
    "loss": (),
}


def check_components(experiment):
    """Every component an experiment names is registered and takes the options it is given, so a typo
    stops the plan, before faces and features run, not a training job hours later."""
    import models.losses  # noqa: F401 (registers the losses)
    import models.temporal  # noqa: F401 (registers fusions, encoders, heads, frameworks)
    from models.registry import component_problem

    framework = dict(experiment.model["framework"])
    components = [
        ("fusion", "fusion", experiment.model["fusion"]),
        ("encoder", "encoder", experiment.model["encoder"]),
        ("framework", "framework", framework),
    ]
    if "task_encoder" in framework:
        components.append(("framework.task_encoder", "encoder", framework["task_encoder"]))
    components += [(f"heads.{task}", "head", head) for task, head in experiment.model["heads"].items()]
    components += [(f"losses.{task}", "loss", loss) for task, loss in experiment.losses.items()]
    for key, kind, component in components:
        options = {k: v for k, v in component.items() if k != "name"}
        problem = component_problem(kind, component["name"], options, SUPPLIED_ARGUMENTS[kind])
        if problem:
            raise ConfigError(f"config.yaml: experiments.{experiment.name}.{key}: {problem}")
    tasks = {task for challenge in experiment.challenges for task in CHALLENGES[challenge].tasks}
    for target, source in framework.get("sources", {}).items() if tasks else ():
        for task in (target, source):
            if task not in tasks:
                raise ConfigError(
                    f"config.yaml: experiments.{experiment.name}.framework.sources feeds {source} into {target}, "
                    f"but the experiment trains {', '.join(sorted(tasks)) or 'no task'}"
                )

"""The plan as the workflow's rules ask it: every input function, param and target list of rules/*.smk.

A method that takes ``wildcards`` is an input or params function: Snakemake calls it with the job's
wildcards (anything with attribute access will do in a test). The paths come from abawflow.plan.paths, the
decisions from the compiled plan (abawflow.plan.compiler), so rules/common.smk only loads the config and
hands this object to the rules. Nothing here walks the file system when the workflow is parsed, except the
fingerprints of the dataset files an index reads (they are its rerun trigger); the benchmark files of the
runtime table and the videos of ``predict_videos`` are looked up when a target asks for them.
"""

import hashlib
import textwrap
from functools import cached_property
from pathlib import Path

from abawflow.challenges.registry import CHALLENGES
from abawflow.core.code_fingerprint import code_fingerprint
from abawflow.core.errors import ConfigError, ModelLoadError
from abawflow.datasets.aff_wild2 import check_layout
from abawflow.datasets.dataset_files import (
    aff_wild2_index_files,
    aff_wild2_subject_names,
    aff_wild2_videos,
    fingerprint_files,
)
from abawflow.datasets.folders import files_under
from abawflow.datasets.registry import DATASETS, datasets_with_reader, datasets_with_transcripts, generated_datasets
from abawflow.plan import paths
from abawflow.plan.bundle_contents import bundle_plan, bundle_runs
from abawflow.plan.compiler import MULTITASK, canonical, compile_plan, transcript_source
from abawflow.stage_one.video import videos_to_predict

# The rule that writes each face source's tables.
FACE_RULES = {"detected": "detect_and_align_faces", "cropped_aligned": "read_face_crops"}
# Dataset roots that the workflow generates (rules demo_data, demo_mtl_data, demo_eri_data): before the
# rule has run they do not exist, so they are identified by their generator's settings (config section).
GENERATED_ROOTS = {
    "resources/demo": "demo",
    "resources/demo_mtl": "demo",
    "resources/demo_eri": "demo",
    **{DATASETS[name].demo.root: "demo" for name in generated_datasets()},
}
# A dataset's config keys that are not its reader's settings: where it is, where its faces come from, and its
# transcripts (rule read_transcripts). A change to them reruns no index (and so no face detection).
NOT_LAYOUT_SETTINGS = ("root", "face_source", "crops_folder")
TRANSCRIPT_SETTINGS = ("transcript_folder", "transcript_window_seconds")
# Left out of the code fingerprints of rules run per dataset (dataset_code): it imports every dataset's module.
REGISTRY_MODULE = "abawflow/datasets/registry.py"


def alternatives(names):
    """A wildcard constraint matching exactly ``names`` (nothing when there are none)."""
    return "|".join(names) or "(?!)"


def described(value):
    """A registration as text that is the same in every process: functions by their qualified names."""
    if callable(value):
        return f"{value.__module__}.{value.__qualname__}"
    if hasattr(value, "__dataclass_fields__"):
        return f"{type(value).__name__}({', '.join(f'{k}={described(v)}' for k, v in vars(value).items())})"
    return repr(value)


def model_folder_files(folder):
    """Every file of a model folder the config names (nothing where it names none): as a rule's inputs, a model
    replaced in place reruns what it computed."""
    return [str(path) for path in files_under(Path(folder).expanduser())] if folder else []


def given_files(feature_spec):
    """(key, file) of the files a user gives a backbone (``checkpoint``, ``path``); a package's own files
    (``package:...``) are the package's."""
    return [
        (key, feature_spec[key])
        for key in ("checkpoint", "path")
        if feature_spec.get(key) and not feature_spec[key].startswith("package:")
    ]


def training_spec(feature_spec, drop=()):
    """A backbone's feature spec as its training (fine-tuning, MAE) reads it: the precision of feature
    extraction does not change the training, so it reruns none."""
    return {k: v for k, v in feature_spec.items() if k not in ("precision", *drop)}


class WorkflowPlan:
    def __init__(self, config, workflow_root):
        """``config``: the workflow's config, already validated (the schema filled in its defaults)."""
        self.config = config
        self.plan = compile_plan(config, validate=False)
        self.workflow_root = Path(workflow_root)
        self.scripts = self.workflow_root / "workflow_scripts"

    # --- what the run holds ---------------------------------------------------------------------------

    def summary(self):
        """What the plan trains and submits, in a few lines: a dry run prints it before the job list."""
        plan = self.plan
        methods = f"the preset {plan.preset} beneath the config's own" if plan.preset else "the config's own"

        def backbone(name):
            spec = plan.backbones[name]
            if spec.format == "fine_tuned":
                return f"{name} (fine-tuned from {spec.base} on {spec.task})"
            source = spec.feature_spec.get("checkpoint") or spec.feature_spec.get("path")
            kind = "MAE pre-trained" if spec.format == "mae" else spec.feature_spec.get("architecture") or spec.format
            return f"{name} ({kind}{', ' + source if source else ''})"

        def experiment(name):
            spec, runs = plan.experiments[name], len(self.run_folders(name))
            return f"{name} ({', '.join(spec.challenges)}; {runs} training run{'s' * (runs != 1)})"

        def ensemble(name, spec):
            coarse = f"mean of {', '.join(spec.members)}"
            return f"{name} ({coarse}{', then ' + spec.cascade['negative'] if spec.cascade else ''})"

        entries = {
            "data": [f"{name} at {plan.dataset_roots[name]}" for name in plan.datasets],
            "backbones": [backbone(name) for name in plan.backbones],
            "experiments": [experiment(name) for name in plan.experiments],
            "ensembles": [ensemble(name, e) for name, e in plan.ensembles.items()],
            "submitted": [f"{name} <- {run.submitted}" for name, run in plan.challenges.items()],
            "not run": [f"{name} (defined, unused)" for names in plan.left_out.values() for name in names],
        }
        lines = [f"abawflow plan: the methods of {methods}"]
        for heading, items in entries.items():
            if items or heading != "not run":
                text = f"  {heading + ':':<13}" + ", ".join(items or ["none"])
                lines += textwrap.wrap(text, 110, subsequent_indent=" " * 15, break_on_hyphens=False)
        return "\n".join(lines)

    @property
    def challenges(self):
        """The challenges run: the `challenge` wildcard of predictions, ensembles and submissions."""
        return list(self.plan.challenges)

    @property
    def aff_wild2_tasks(self):
        return list(self.plan.dataset_tasks("aff_wild2"))

    @property
    def shard_names(self):
        return self.plan.shard_names

    def backbones_of(self, rule):
        """A constraint for the `backbone` wildcard: the backbones whose table ``rule`` writes."""
        return alternatives(name for name, b in self.plan.backbones.items() if b.stage_rule == rule)

    @property
    def training_targets(self):
        """The `target` wildcard: a task, multitask, or a joint challenge (trained as one)."""
        joint = [name for name in self.challenges if CHALLENGES[name].joint]
        tasks = [name for name in self.challenges if name not in joint]
        return alternatives([*tasks, MULTITASK, *joint])

    def challenges_with_suffix(self, suffix):
        """A constraint for the `challenge` wildcard of write_submission: its submission files' suffix."""
        return alternatives(n for n in self.challenges if CHALLENGES[n].submission_suffix == suffix)

    @property
    def challenges_with_trials(self):
        """A constraint for the `challenge` wildcard of write_trial_submission."""
        return alternatives(name for name, run in self.plan.challenges.items() if run.trials)

    def code(self, script):
        """A rule's `code` param: reruns it when its script or the project code it imports changes (not on
        comments or layout; abawflow/core/code_fingerprint.py)."""
        return code_fingerprint(self.scripts / script)

    def dataset_code(self, script, dataset):
        """The `code` param of a rule run for one registered dataset: the registry, which imports every
        dataset's module, is left out, and the modules of the functions this dataset's entry names are followed
        instead, with the entry itself; so changing another dataset's reader or registration reruns nothing of
        this one."""
        entry = DATASETS[dataset]
        functions = [entry.reader, entry.layout_files, entry.transcripts, entry.crop_files]
        functions = [function for function in [*functions, entry.demo and entry.demo.make] if function]
        modules = sorted({function.__module__ for function in functions})
        fingerprint = code_fingerprint(self.scripts / script, left_out=(REGISTRY_MODULE,), followed=modules)
        return hashlib.sha256(f"{fingerprint}{described(entry)}".encode()).hexdigest()[:16]

    def dataset_code_of(self, script):
        """``dataset_code`` as a params function of a rule with a `dataset` wildcard."""
        return lambda wildcards: self.dataset_code(script, wildcards.dataset)

    def setting(self, *keys):
        """The config value at ``keys``, canonical (sorted keys), as a rule param."""
        value = self.config
        for key in keys:
            value = value[key]
        return canonical(value)

    # --- the index: fingerprints of the files each dataset's reader reads ----------------------------

    def _generated(self, dataset):
        return GENERATED_ROOTS.get(self.plan.dataset_roots[dataset])

    def aff_wild2_files(self):
        """What index_annotations reads, so that it reruns when a file is added, removed or edited (the
        root folder's time stamp does not show that)."""
        generated = self._generated("aff_wild2")
        if generated:
            return self.setting(generated)
        root, dataset = self.plan.dataset_roots["aff_wild2"], self.config["dataset"]
        files = aff_wild2_index_files(
            root,
            dataset["annotation_folder"],
            dataset["challenge_folders"],
            dataset["test_lists"],
            dataset["video_folder"],
            self.aff_wild2_tasks,
        )
        return fingerprint_files(root, files)

    def aff_wild2_subjects(self):
        """What the subjects table (and so face detection) depends on: the subject names the annotation
        files and test lists give, and the videos; not the labels."""
        generated = self._generated("aff_wild2")
        if generated:
            return self.setting(generated)
        root, dataset = self.plan.dataset_roots["aff_wild2"], self.config["dataset"]
        names = aff_wild2_subject_names(
            root,
            dataset["annotation_folder"],
            dataset["challenge_folders"],
            dataset["test_lists"],
            self.aff_wild2_tasks,
        )
        return fingerprint_files(root, aff_wild2_videos(root, dataset["video_folder"]), names)

    def s_aff_wild2_files(self):
        """The annotation files and test list index_s_aff_wild2 reads."""
        generated = self._generated("s_aff_wild2")
        if generated:
            return self.setting(generated)
        root, mtl = self.plan.dataset_roots["s_aff_wild2"], self.config["mtl"]
        files = [*mtl["annotation_files"].values(), mtl["test_list"]]
        return fingerprint_files(root, [Path(root) / name for name in files])

    def hume_reaction_files(self):
        """The sample list and every file under the split folders index_hume_reaction reads."""
        generated = self._generated("hume_reaction")
        if generated:
            return self.setting(generated)
        root, eri = self.plan.dataset_roots["hume_reaction"], self.config["eri"]
        files = [Path(root) / eri["info_file"]]
        for folder in eri["split_folders"].values():
            files += files_under(Path(root) / folder)
        return fingerprint_files(root, files)

    @property
    def datasets_with_reader(self):
        """The datasets the run reads whose index rule is made from their registered reader."""
        return [name for name in datasets_with_reader() if name in self.plan.datasets]

    def layout_settings(self, dataset):
        """A registered reader's settings: its dataset's config section, less its root, face source, transcripts
        and what only its submission writer reads."""
        section = self.config[DATASETS[dataset].config_section]
        written = {key for c in CHALLENGES.values() if c.dataset == dataset for key in c.submission_settings}
        left_out = {*NOT_LAYOUT_SETTINGS, *TRANSCRIPT_SETTINGS, *written}
        return canonical({key: value for key, value in section.items() if key not in left_out})

    def transcript_settings(self, wildcards):
        """Where a dataset's transcripts are, for its transcript reader."""
        section = self.config[DATASETS[wildcards.dataset].config_section]
        return canonical({key: section[key] for key in TRANSCRIPT_SETTINGS})

    def layout_files(self, dataset):
        """The fingerprint of the files a registered reader reads: its index's rerun trigger."""
        generated = self._generated(dataset)
        if generated:
            return self.demo_settings(dataset) if DATASETS[dataset].demo else self.setting(generated)
        root = self.plan.dataset_roots[dataset]
        return fingerprint_files(root, DATASETS[dataset].layout_files(root, self.layout_settings(dataset)))

    def media_table_of(self, dataset):
        return paths.index_table(dataset, DATASETS[dataset].media)

    def label_tasks(self, dataset):
        """The tasks a dataset's index writes label tables for, in the order of ``index_labels``."""
        if dataset == "aff_wild2":
            return self.aff_wild2_tasks
        return list(dict.fromkeys(task for c in CHALLENGES.values() if c.dataset == dataset for task in c.tasks))

    @property
    def generated_datasets(self):
        """The datasets whose demo a rule made from their registration writes: those the run reads from the
        demo's root."""
        return [
            name
            for name in generated_datasets()
            if name in self.plan.datasets and self.plan.dataset_roots[name] == DATASETS[name].demo.root
        ]

    def demo_root(self, dataset):
        return DATASETS[dataset].demo.root

    def demo_settings(self, dataset):
        """The `demo` config keys a dataset's demo generator reads, by its argument names."""
        return {argument: self.config["demo"][key] for argument, key in DATASETS[dataset].demo.settings.items()}

    def index_labels(self, dataset):
        """The label tables a dataset's index writes: Aff-Wild2's for the tasks run, another dataset's for
        every task its challenges hold."""
        return [paths.labels(dataset, task) for task in self.label_tasks(dataset)]

    # --- stage one, per dataset (the `dataset` wildcard) ----------------------------------------------

    def root(self, dataset):
        """A dataset's root folder, as the config gives it."""
        return self.plan.dataset_roots[dataset]

    def dataset_root(self, wildcards):
        return self.root(wildcards.dataset)

    def media_table(self, wildcards):
        """The index table of what a dataset's stage one reads: its person-videos or its images."""
        return paths.index_table(wildcards.dataset, DATASETS[wildcards.dataset].media)

    def crops_folder(self, wildcards):
        return self.config[DATASETS[wildcards.dataset].config_section]["crops_folder"]

    def face_tables(self, dataset):
        """Every face shard of a dataset, from the face source the config picks for it."""
        source = self.plan.face_sources[dataset]
        return [paths.face_shard(dataset, source, shard) for shard in self.shard_names]

    def face_shard(self, wildcards):
        return paths.face_shard(wildcards.dataset, self.plan.face_sources[wildcards.dataset], wildcards.shard)

    def face_tables_of_dataset(self, wildcards):
        return self.face_tables(wildcards.dataset)

    def aff_wild2_face_tables(self, wildcards):
        """Aff-Wild2's face tables, which fine-tuning and MAE pre-training read."""
        return self.face_tables("aff_wild2")

    def feature_shards(self, wildcards):
        return [paths.feature_shard(wildcards.dataset, wildcards.backbone, shard) for shard in self.shard_names]

    def backbone_spec(self, wildcards):
        return canonical(self.plan.backbones[wildcards.backbone].feature_spec)

    def audio_extractor_gpus(self, wildcards):
        """A GPU for the CNN of deep_spectrum; the other extractors are cheap numerics on the CPU."""
        return int(self.plan.backbones[wildcards.backbone].feature_spec["extractor"] == "deep_spectrum")

    def trained_weights(self, backbone):
        """The files a backbone's model is built from: the user's checkpoint or model file (a package's own
        files aside), and the weights a pipeline rule trains for it (fine-tuning, MAE). As inputs, a replaced
        file reruns the backbone's features and what depends on them."""
        given = [str(Path(file).expanduser()) for _, file in given_files(self.plan.backbones[backbone].feature_spec)]
        weights = self.plan.backbones[backbone].weights
        return [*given, *([weights] if weights else [])]

    def backbone_weights(self, wildcards):
        return self.trained_weights(wildcards.backbone)

    def check_before_jobs(self):
        """What the dry run checks on disk and across the config beyond the plan: Aff-Wild2's layout, the layouts
        of the datasets with a registered reader, every model file and checkpoint, and what the bundle names
        (planned now, whether or not the bundle is asked for)."""
        self.check_dataset_layout()
        self.check_registered_layouts()
        self.check_backbone_files()
        self.check_speech_recognition()
        self.check_precomputed_folders()
        _ = self.bundle

    def check_dataset_layout(self):
        """Aff-Wild2's folders and test lists are where the config (and its edition) name them: a dataset the
        workflow generates is made by its rule."""
        if "aff_wild2" not in self.plan.datasets or self._generated("aff_wild2"):
            return
        dataset = self.config["dataset"]
        check_layout(
            dataset["root"],
            dataset["annotation_folder"],
            dataset["challenge_folders"],
            dataset["test_lists"],
            dataset["video_folder"],
            self.aff_wild2_tasks,
        )

    def check_registered_layouts(self):
        """A registered reader reads its dataset's tables and lists its media now (no video is opened), so that a
        damaged label file or a listed video that is absent stops the dry run, naming the file and line."""
        for dataset in self.datasets_with_reader:
            if self._generated(dataset):
                continue
            root = self.plan.dataset_roots[dataset]
            DATASETS[dataset].reader(root, self.layout_settings(dataset))
            setting = DATASETS[dataset].transcript_setting
            section = DATASETS[dataset].config_section
            folder = self.config[section].get(setting) if setting else None
            if folder and self.reads_text(dataset) and not (Path(root) / folder).is_dir():
                raise ConfigError(
                    f"config: {section}.{setting}: {Path(root) / folder} not found; a text backbone reads the "
                    f"transcripts there (set {section}.{setting} to your folder of <id>.yml files)"
                )

    # --- transcripts: read from the dataset's files, or made from its sound --------------------------------

    def datasets_with_transcript(self, source):
        """The datasets whose transcripts come from ``source`` (files: rule read_transcripts; speech_recognition:
        rule transcribe_speech); disjoint, so one rule writes each dataset's transcripts."""
        candidates = datasets_with_transcripts() if source == "files" else DATASETS
        return [name for name in candidates if transcript_source(name, self.config) == source]

    def speech_model_files(self, wildcards):
        """The local model folder's files (faster_whisper): as inputs, a replaced model reruns the transcripts."""
        settings = self.config["speech_recognition"]
        return model_folder_files(settings["model_folder"] if settings["engine"] == "faster_whisper" else "")

    def speech_recognition_gpus(self, wildcards):
        """Whisper runs on a GPU; pocketsphinx on the CPU."""
        return int(self.config["speech_recognition"]["engine"] == "faster_whisper")

    def check_speech_recognition(self):
        """Where the run transcribes a dataset's sound, the engine loads now (its package, its model folder and
        language), not after the faces and features of every video."""
        transcribed = [name for name in self.datasets_with_transcript("speech_recognition") if self.reads_text(name)]
        if transcribed:
            from abawflow.stage_one.speech_recognition import check_recognizer

            check_recognizer(self.config["speech_recognition"])

    def reads_text(self, dataset):
        """Whether an experiment of the run reads a text backbone on ``dataset``."""
        plan = self.plan
        return any(
            CHALLENGES[challenge].dataset == dataset
            for experiment in plan.experiments.values()
            if any(plan.backbones[b].modality == "text" for b in experiment.backbones)
            for challenge in experiment.challenges
        )

    def detector_model(self):
        """The face detector's model file where the config names one (an input: replacing it redoes the faces)."""
        path = self.config["faces"]["detector_model_path"]
        return [str(Path(path).expanduser())] if path else []

    def check_backbone_files(self):
        """Every file a backbone is built from exists, and a timm checkpoint fits its architecture (a meta-device
        model against the checkpoint's keys and shapes): before any job runs, not after face detection."""
        from models.backbones import check_checkpoint

        detector = self.config["faces"]["detector_model_path"]
        if (
            detector
            and not Path(detector).expanduser().is_file()
            and any(source == "detected" for source in self.plan.face_sources.values())
        ):
            raise ConfigError(f"config: faces.detector_model_path: {detector} not found")
        for name, backbone in self.plan.backbones.items():
            if backbone.format == "fine_tuned":  # built from its base, checked as itself
                continue
            spec = backbone.feature_spec
            for key, file in given_files(spec):
                if not Path(file).expanduser().is_file():
                    raise ConfigError(
                        f"config: backbones.{name}.{key}: {file} not found (a relative path is read from the "
                        f"working directory, {Path.cwd()})"
                    )
            start = backbone.mae.get("start_from")
            if start:
                self.check_mae_start(name, backbone, start)
            if backbone.format == "mae":
                self.check_mae_corpora(name, backbone)
            if backbone.format == "text" and spec["extractor"] != "hashed_words":
                self.check_text_model(name, spec)
            if spec.get("checkpoint") and spec.get("architecture"):
                try:
                    check_checkpoint(name, spec)
                except ModelLoadError as error:
                    raise ConfigError(
                        f"config: backbones.{name}.checkpoint does not fit {spec['architecture']}: {error}"
                    ) from None

    def check_text_model(self, name, spec):
        """A text model folder holds its files, its package is installed, and its embedding width is the
        backbone's output_width."""
        from abawflow.stage_one.text_features import model2vec_width, sentence_transformers_width

        extractor = spec["extractor"]
        files, package, width_of = {
            "model2vec": (("model.safetensors", "tokenizer.json"), "model2vec", model2vec_width),
            "sentence_transformers": (("modules.json",), "sentence_transformers", sentence_transformers_width),
        }[extractor]
        folder = Path(spec["text"]["model_folder"]).expanduser()
        missing = [file for file in files if not (folder / file).is_file()]
        if missing:
            raise ConfigError(
                f"config: backbones.{name}.text.model_folder: {folder} holds no {' or '.join(missing)} (a {extractor} "
                f"model folder; a relative path is read from the working directory, {Path.cwd()})"
            )
        try:
            __import__(package)
        except ImportError:
            raise ConfigError(
                f"config: backbones.{name}: extractor {extractor} needs the {package} package "
                f"(pip install {package.replace('_', '-')})"
            ) from None
        width = width_of(folder)
        if width is not None and width != spec["output_width"]:
            raise ConfigError(
                f"config: backbones.{name}: the model in {folder} gives {width} features, but output_width is "
                f"{spec['output_width']}"
            )

    def check_precomputed_folders(self):
        """Each precomputed backbone's folders: one at least under the root of every dataset it is read on."""
        plan = self.plan
        for experiment in plan.experiments.values():
            for name in experiment.backbones:
                if plan.backbones[name].format != "precomputed":
                    continue
                folders = plan.backbones[name].feature_spec["precomputed"]["folders"]
                for dataset in sorted({CHALLENGES[challenge].dataset for challenge in experiment.challenges}):
                    if self._generated(dataset):
                        continue
                    root = Path(plan.dataset_roots[dataset])
                    if not any((root / folder).is_dir() for folder in folders):
                        raise ConfigError(
                            f"config: backbones.{name}.precomputed.folders: none of {', '.join(folders)} is a folder "
                            f"under {root} ({dataset}, read by experiments.{experiment.name})"
                        )

    def precomputed_files(self, wildcards):
        """The fingerprint of a precomputed backbone's folders (each file's path, size and time): a file added,
        removed or replaced reruns its table."""
        root = self.plan.dataset_roots[wildcards.dataset]
        folders = self.plan.backbones[wildcards.backbone].feature_spec["precomputed"]["folders"]
        return fingerprint_files(root, [file for folder in folders for file in files_under(Path(root) / folder)])

    def text_model_files(self, wildcards):
        """A text backbone's model folder's files (model2vec, sentence_transformers): as inputs, a replaced model
        reruns its table."""
        return model_folder_files(self.plan.backbones[wildcards.backbone].feature_spec["text"].get("model_folder"))

    def check_mae_start(self, name, backbone, start):
        from models.backbones import check_start_state

        if not Path(start).expanduser().is_file():
            raise ConfigError(
                f"config: backbones.{name}.mae.start_from: {start} not found (a relative path is read from the "
                f"working directory, {Path.cwd()})"
            )
        try:
            check_start_state(name, {**backbone.feature_spec, "mae": backbone.mae})
        except ModelLoadError as error:
            raise ConfigError(
                f"config: backbones.{name}.mae.start_from does not fit {backbone.feature_spec['architecture']}: {error}"
            ) from None

    def check_mae_corpora(self, name, backbone):
        """Each corpus is a dataset the run reads (its face crops exist only then) or a folder that exists."""
        for index, corpus in enumerate(backbone.mae["corpora"]):
            key = f"backbones.{name}.mae.corpora[{index}]"
            dataset, folder = corpus.get("dataset"), corpus.get("folder")
            if dataset and dataset not in self.plan.datasets:
                raise ConfigError(
                    f"config: {key}.dataset is {dataset}, which this run does not read (it reads "
                    f"{', '.join(self.plan.datasets)}); add a task of {dataset} to tasks, or name a folder of its "
                    "face images instead"
                )
            if folder and not Path(folder).expanduser().is_dir():
                raise ConfigError(
                    f"config: {key}.folder: {folder} not found (a relative path is read from the working "
                    f"directory, {Path.cwd()})"
                )

    # --- backbones' own training (the `backbone` wildcard) --------------------------------------------

    def fine_tuning_base(self, wildcards):
        base = self.plan.backbones[wildcards.backbone].base
        return canonical({"name": base, **training_spec(self.plan.backbones[base].feature_spec)})

    def fine_tuning_base_weights(self, wildcards):
        """An MAE base's pre-trained weights, which fine-tuning starts from."""
        return self.trained_weights(self.plan.backbones[wildcards.backbone].base)

    def fine_tuning_task(self, wildcards):
        return self.plan.backbones[wildcards.backbone].task

    def fine_tuning_recipe(self, wildcards):
        return canonical(self.plan.backbones[wildcards.backbone].fine_tuning)

    def fine_tuning_labels(self, wildcards):
        return paths.labels("aff_wild2", self.fine_tuning_task(wildcards))

    def mae_start_weights(self, wildcards):
        """The checkpoint an MAE pre-training starts from, if any: an input, so that replacing it reruns it."""
        start = self.plan.backbones[wildcards.backbone].mae.get("start_from")
        return [start] if start else []

    def mae_corpora(self, wildcards):
        """pretrain_mae's corpora with their files: a dataset's face tables, splits and ``every``; a folder."""
        mae = self.plan.backbones[wildcards.backbone].mae
        corpora = []
        for corpus in mae["corpora"]:
            sample = {"images": corpus["images"]} if "images" in corpus else {}
            if "folder" in corpus:
                corpora.append({"folder": str(Path(corpus["folder"]).expanduser()), **sample})
                continue
            dataset = corpus["dataset"]
            files = {"faces": self.face_tables(dataset), "splits": paths.splits(dataset), "every": mae["every"]}
            corpora.append({"dataset": dataset, **files, **sample})
        return canonical(corpora)

    def mae_corpus_files(self, wildcards):
        """The corpora's files as inputs: a folder's changes, or a face table's, rerun the pre-training."""
        files = []
        for corpus in self.mae_corpora(wildcards):
            files += [corpus["folder"]] if "folder" in corpus else [*corpus["faces"], corpus["splits"]]
        return files

    def mae_probe_tasks(self, wildcards):
        """The tasks whose labels the MAE's linear probes read, in ``linear_probe.PROBE_TASKS``'s order (the
        first is the report figure's): every Aff-Wild2 task the run has, none when ``probe_frames`` is 0."""
        from abawflow.training.linear_probe import PROBE_TASKS

        if not self.plan.backbones[wildcards.backbone].mae.get("probe_frames", 2000):
            return []
        return [task for task in PROBE_TASKS if task in self.plan.dataset_tasks("aff_wild2")]

    def mae_probe_labels(self, wildcards):
        return [paths.labels("aff_wild2", task) for task in self.mae_probe_tasks(wildcards)]

    def mae_spec(self, wildcards):
        backbone = self.plan.backbones[wildcards.backbone]
        spec = training_spec(backbone.feature_spec, drop=("weights",))
        return canonical({**spec, "format": backbone.format, "mae": backbone.mae})

    # --- training (the `experiment`, `target`, `fold` and `seed` wildcards) ---------------------------

    def _matrices(self, challenge, experiment, suffix):
        """The matrices (suffix npy) or row tables (rows.parquet) of an experiment's backbones."""
        dataset = challenge.dataset
        return [paths.feature_matrix(dataset, b, suffix) for b in self.plan.experiments[experiment].backbones]

    def experiment_model(self, wildcards):
        return canonical(self.plan.experiments[wildcards.experiment].model)

    def target_tasks(self, wildcards):
        return list(self.plan.target_tasks(wildcards.experiment, wildcards.target))

    def _target_challenge(self, wildcards):
        return self.plan.target_challenge(wildcards.experiment, wildcards.target)

    def target_labels(self, wildcards):
        dataset = self._target_challenge(wildcards).dataset
        return [paths.labels(dataset, task) for task in self.target_tasks(wildcards)]

    def target_splits(self, wildcards):
        return paths.splits(self._target_challenge(wildcards).dataset)

    def target_feature_rows(self, wildcards):
        return self._matrices(self._target_challenge(wildcards), wildcards.experiment, "rows.parquet")

    def target_feature_matrices(self, wildcards):
        return self._matrices(self._target_challenge(wildcards), wildcards.experiment, "npy")

    def training_recipe(self, wildcards):
        return self.plan.training_recipe(wildcards.experiment, wildcards.target, wildcards.fold, wildcards.seed)

    def run_folders(self, experiment):
        """(experiment, target, fold, seed) of every run of one experiment."""
        spec = self.plan.experiments[experiment]
        return [(experiment, target, fold, seed) for target in spec.training_targets for fold, seed in spec.runs]

    def experiment_histories(self, wildcards):
        return [paths.run_history(*run) for run in self.run_folders(wildcards.experiment)]

    # --- prediction and ensembles (the `challenge`, `experiment` and `ensemble` wildcards) -------------

    def experiment_models(self, wildcards):
        """Every trained model (fold x seed) whose predictions of one challenge an experiment averages."""
        spec = self.plan.experiments[wildcards.experiment]
        target = spec.prediction_target(wildcards.challenge)
        return [paths.run_model(wildcards.experiment, target, fold, seed) for fold, seed in spec.runs]

    def prediction_feature_rows(self, wildcards):
        return self._matrices(CHALLENGES[wildcards.challenge], wildcards.experiment, "rows.parquet")

    def prediction_feature_matrices(self, wildcards):
        return self._matrices(CHALLENGES[wildcards.challenge], wildcards.experiment, "npy")

    def challenge_splits(self, wildcards):
        return paths.splits(CHALLENGES[wildcards.challenge].dataset)

    def challenge_tasks(self, wildcards):
        """The tasks whose outputs one prediction table of the challenge holds."""
        return list(CHALLENGES[wildcards.challenge].tasks)

    def challenge_labels(self, wildcards):
        return self._labels(wildcards.challenge)

    def _labels(self, challenge):
        challenge = CHALLENGES[challenge]
        return [paths.labels(challenge.dataset, task) for task in challenge.tasks]

    def experiment_window(self, wildcards):
        recipe = self.plan.experiments[wildcards.experiment].recipe
        windows = {"stride": recipe["stride"], "window": recipe["window"]}
        if recipe["clip_steps"]:  # video-level tasks: one clip per video
            windows["clip_steps"] = recipe["clip_steps"]
        return windows

    def submission_settings(self, wildcards):
        """The settings of its dataset's config section that a challenge's submission writer takes."""
        challenge = CHALLENGES[wildcards.challenge]
        section = self.config[DATASETS[challenge.dataset].config_section]
        return canonical({key: section[key] for key in challenge.submission_settings})

    def experiment_postprocess(self, wildcards):
        return canonical(self.plan.experiments[wildcards.experiment].postprocess)

    def ensemble_members(self, wildcards):
        return list(self.plan.ensembles[wildcards.ensemble].members)

    def ensemble_weights(self, wildcards):
        return list(self.plan.ensembles[wildcards.ensemble].weights)

    def ensemble_weighting(self, wildcards):
        return canonical(self.plan.ensembles[wildcards.ensemble].weighting)

    def challenge_ensembles(self, wildcards):
        return list(self.plan.challenges[wildcards.challenge].ensembles)

    def challenge_ensemble_weights(self, wildcards):
        return [paths.ensemble_weights(wildcards.challenge, name) for name in self.challenge_ensembles(wildcards)]

    def ensemble_postprocess(self, wildcards):
        return canonical(self.plan.ensembles[wildcards.ensemble].postprocess)

    def ensemble_member_predictions(self, wildcards):
        return [paths.predictions(wildcards.challenge, m) for m in self.plan.ensembles[wildcards.ensemble].members]

    def ensemble_cascade(self, wildcards):
        """A cascade's negative net and routing, or {} for an ensemble that averages only."""
        return canonical(self.plan.ensembles[wildcards.ensemble].cascade)

    def ensemble_negative_predictions(self, wildcards):
        cascade = self.plan.ensembles[wildcards.ensemble].cascade
        return [paths.predictions(wildcards.challenge, cascade["negative"])] if cascade else []

    # --- scores and submissions -----------------------------------------------------------------------

    @property
    def scored(self):
        """(challenge, experiment or ensemble) of every scored prediction table."""
        return [list(pair) for pair in self.plan.scored]

    @property
    def scored_predictions(self):
        return [paths.predictions(challenge, name) for challenge, name in self.plan.scored]

    @property
    def scored_labels(self):
        return list(dict.fromkeys(label for name in self.challenges for label in self._labels(name)))

    @property
    def scored_inputs(self):
        """What each scored experiment fuses (A, V, A+V, A+V+AV): a column of the score tables."""
        return canonical({name: self.plan.inputs(name) for _, name in self.plan.scored})

    @property
    def submitted_names(self):
        """The experiment or ensemble each challenge submits (marked in its score table)."""
        return canonical({name: run.submitted for name, run in self.plan.challenges.items()})

    def score_tables(self, suffix):
        return [paths.score_table(name, suffix) for name in self.challenges]

    def submitted_name(self, wildcards):
        return self.plan.challenges[wildcards.challenge].submitted

    def submitted_predictions(self, wildcards):
        return paths.predictions(wildcards.challenge, self.submitted_name(wildcards))

    def trial_predictions(self, wildcards):
        """The predictions of a challenge's trial-<k> entry (submission.trials)."""
        trials = self.plan.challenges[wildcards.challenge].trials
        return paths.predictions(wildcards.challenge, trials[int(wildcards.trial)])

    def submission_index(self, wildcards):
        """What a submission file follows: the test lists (splits), or the MTL challenge's test image list."""
        challenge = CHALLENGES[wildcards.challenge]
        return paths.index_table(challenge.dataset, challenge.submission_index)

    def challenge_media(self, wildcards):
        """The index of what its dataset's stage one read: the subjects' frame counts the submission covers."""
        dataset = CHALLENGES[wildcards.challenge].dataset
        return paths.index_table(dataset, DATASETS[dataset].media)

    def submission_files(self, wildcards=None):
        """Every challenge's submission; with submission.format abaw3, Aff-Wild2's as one file per test video."""
        files = []
        for name in self.challenges:
            if self.plan.submission_format == "abaw3" and name in self.aff_wild2_tasks:
                files.append(paths.per_video_submission(name))
            else:
                files.append(paths.submission_file(name, CHALLENGES[name].submission_suffix))
            suffix = CHALLENGES[name].submission_suffix
            files += [paths.trial_file(name, k, suffix) for k in range(len(self.plan.challenges[name].trials))]
        return files

    # --- the run report ---------------------------------------------------------------------------------

    def report_outputs(self, wildcards=None):
        """The figures and tables of the run report, made by every run so that --report finds them."""
        return [
            *(paths.learning_curves_figure(name) for name in self.plan.experiments),
            *(paths.validation_figure(task) for task in self.aff_wild2_tasks),
            *(paths.face_detection_figure(dataset) for dataset in self.plan.datasets),
            *(paths.mae_figure(name) for name, backbone in self.plan.backbones.items() if backbone.format == "mae"),
            *(paths.score_page(name) for name in self.challenges),
            paths.RUNTIME_TABLE,
            paths.REPORT_DESCRIPTION,
        ]

    def report_text(self):
        """The workflow's description (report/workflow.rst), as a param: its text, not its path, so that an
        edit reruns the report's first page and a copy of the file elsewhere does not."""
        return (self.workflow_root / "report" / "workflow.rst").read_text()

    def report_description(self, fallback):
        """The report's description: the run's own (its scores first) once the run has written it, else
        ``fallback``, the workflow's text alone. An absolute path, whatever the Snakefile's folder."""
        written = Path(paths.REPORT_DESCRIPTION)
        return str(written.resolve()) if written.is_file() else fallback

    def timed_jobs(self, exists=Path.exists):
        """(benchmark file, the output that shows the job has run, the table whose rows it processed or None) of
        the run's long jobs: faces, features, audio, feature matrices, fine-tuning, MAE, training and
        prediction. A job that finished in a results folder from before benchmark files is left out: asking
        for its file would rerun it."""
        plan, jobs, features = self.plan, [], {}
        for challenge, name in plan.scored:
            if name in plan.experiments:
                table = paths.predictions(challenge, name)
                jobs.append((paths.benchmark("predict", challenge=challenge, experiment=name), table, table))
                dataset = CHALLENGES[challenge].dataset
                features.update(dict.fromkeys((dataset, b) for b in plan.experiments[name].backbones))
        for experiment in plan.experiments:
            for run in self.run_folders(experiment):
                wildcards = dict(zip(("experiment", "target", "fold", "seed"), run, strict=True))
                jobs.append((paths.benchmark("train_temporal_model", **wildcards), paths.run_model(*run), None))
        for dataset in sorted({d for d, b in features if plan.backbones[b].stage_rule == "extract_features"}):
            rule = FACE_RULES[plan.face_sources[dataset]]
            for shard, table in zip(self.shard_names, self.face_tables(dataset), strict=True):
                jobs.append((paths.benchmark(rule, dataset=dataset, shard=shard), table, table))
        for dataset, backbone in features:
            rule = plan.backbones[backbone].stage_rule
            if rule != "extract_features":
                table = paths.feature_table(dataset, backbone)
                jobs.append((paths.benchmark(rule, dataset=dataset, backbone=backbone), table, table))
            else:
                for shard in self.shard_names:
                    table = paths.feature_shard(dataset, backbone, shard)
                    wildcards = {"dataset": dataset, "backbone": backbone, "shard": shard}
                    jobs.append((paths.benchmark("extract_features", **wildcards), table, table))
            rows = paths.feature_matrix(dataset, backbone, "rows.parquet")
            jobs.append((paths.benchmark("cache_feature_matrix", dataset=dataset, backbone=backbone), rows, rows))
        trained = dict.fromkeys(
            name
            for _, backbone in features
            for name in (backbone, plan.backbones[backbone].base)
            if name and plan.backbones[name].weights
        )
        for name in trained:
            backbone = plan.backbones[name]
            jobs.append((paths.benchmark(backbone.training, backbone=name), backbone.weights, None))
        return [job for job in dict.fromkeys(jobs) if exists(Path(job[0])) or not exists(Path(job[1]))]

    @cached_property
    def _timed_jobs(self):
        return self.timed_jobs()

    def timed_benchmarks(self, wildcards):
        return [bench for bench, _, _ in self._timed_jobs]

    def timed_tables(self, wildcards):
        return list(dict.fromkeys(table for _, _, table in self._timed_jobs if table))

    def timed_table_of_benchmark(self, wildcards):
        """Benchmark file -> the table whose rows its job processed (the runtime table's rows per second)."""
        return {bench: table for bench, _, table in self._timed_jobs if table}

    # --- the model bundle, and the videos it predicts ------------------------------------------------

    @cached_property
    def bundle(self):
        bundle = self.config["bundle"]
        return bundle_plan(self.plan, self.config["faces"], bundle["tasks"], bundle["models"])

    def bundle_runs(self):
        """(experiment, target, fold, seed) of each model file the bundle rule reads, in input order."""
        return [list(run) for run in bundle_runs(self.bundle)]

    def bundle_model_files(self, wildcards):
        return [paths.run_model(*run) for run in self.bundle_runs()]

    def bundle_backbone_weights(self, wildcards):
        return [w for name in self.bundle["backbones"] for w in self.trained_weights(name)]

    def bundle_predictions(self, wildcards):
        """The bundled predictions of each task, whose AU thresholds the bundle keeps."""
        return [paths.predictions(task, entry["name"]) for task, entry in self.bundle["tasks"].items()]

    def bundle_ensemble_weights(self, wildcards):
        """The weights file of each bundled ensemble, in task order: the weights it predicts new videos with."""
        return [paths.ensemble_weights(t, e["name"]) for t, e in self.bundle["tasks"].items() if "weighting" in e]

    def bundle_labels(self, wildcards):
        return [paths.labels("aff_wild2", task) for task in self.bundle["tasks"]]

    @cached_property
    def videos_to_predict(self):
        """Video name -> file, of the files and folders predict.videos lists."""
        return videos_to_predict(self.config["predict"]["videos"])

    def prediction_video(self, wildcards):
        return str(self.videos_to_predict[wildcards.video])

    def predicted_videos(self, wildcards=None):
        return [paths.video_prediction(video) for video in self.videos_to_predict]

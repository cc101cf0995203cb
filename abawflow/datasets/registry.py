"""The datasets stage one reads, registered by the name of their results folder: results/<name>/.

Stage one is the same for every dataset: its layout reader writes ``index/`` (what to read, splits, labels
per task), a face source writes ``faces/<source>/shard<k>of<n>.parquet`` (one face table schema, whatever
the source) and each backbone writes ``features/<backbone>.parquet``. Face sources:

- ``detected``: our detector and aligner on the dataset's videos (rule detect_and_align_faces);
- ``cropped_aligned``: the organizers' aligned crops, ``<crops folder>/<name>/<frame:05d>.jpg`` or as the
  dataset's ``crop_files`` names them (rule read_face_crops); a frame without a crop is a frame without a face.

A dataset whose ``reader`` is registered is indexed by one rule made for it from this entry (rules/index.smk):
the reader takes the root and the dataset's config section and returns (media table, splits, task -> labels);
``layout_files`` lists the files it reads, so that adding, removing or editing one reruns the index; ``demo``
writes its demo dataset from the ``demo`` config keys it names; ``transcripts`` reads what is said in its
videos (rule read_transcripts), which text backbones read.

Challenges name the dataset they read (abawflow/challenges/registry.py); docs/extending.md says how to add one.
"""

from collections.abc import Callable
from dataclasses import dataclass

from abawflow.datasets import bah, hume_vidmimic2
from abawflow.datasets.demo.bah import make_demo_bah
from abawflow.datasets.demo.hume_vidmimic2 import make_demo_hume_vidmimic2

DETECTED, CROPPED_ALIGNED = "detected", "cropped_aligned"


@dataclass(frozen=True)
class Dataset:
    name: str  # its results folder: results/<name>/ (abawflow/plan/paths.py)
    config_section: str  # the config section holding its root and crops folder
    media: str  # the index table stage one reads: subjects (person-videos) or images (sampled crops)
    face_sources: tuple  # the face sources its layout supports, the default first
    sound: bool = False  # its media carry sound: audio backbones (rule extract_audio_features) can read it
    reader: Callable | None = None  # (root, settings) -> (media table, splits, task -> labels)
    layout_files: Callable | None = None  # (root, settings) -> the files the reader reads
    demo: "DemoData | None" = None  # how its demo dataset is generated
    transcripts: Callable | None = None  # (root, settings, media table) -> (subject, start, end, text) per chunk
    transcript_setting: str = ""  # its config key naming the transcripts' folder: empty there, it has none
    crop_files: Callable | None = None  # cropped_aligned: a video's crop folder -> {frame: file}; None: Aff-Wild2's


@dataclass(frozen=True)
class DemoData:
    root: str  # where the workflow writes it (the config section's default root)
    make: Callable  # (root, **settings) -> None
    settings: dict  # the make function's argument -> the key of the `demo` config section that gives it


DATASETS = {
    dataset.name: dataset
    for dataset in (
        # Aff-Wild2 (VA, EXPR, AU): whole videos, labels per frame; releases ship cropped_aligned/ too.
        Dataset("aff_wild2", "dataset", "subjects", (DETECTED, CROPPED_ALIGNED), sound=True),
        # s-Aff-Wild2 (MTL): sampled frames, only as the organizers' crops.
        Dataset("s_aff_wild2", "mtl", "images", (CROPPED_ALIGNED,)),
        # Hume-Reaction (ERI): one reacting person per video, labels per video, a sound file per video.
        Dataset("hume_reaction", "eri", "subjects", (DETECTED,), sound=True),
        # Hume-Vidmimic2 (EMI): one person mimicking a seed video per video, labels per video.
        Dataset(
            "hume_vidmimic2",
            "emi",
            "subjects",
            (DETECTED,),
            sound=True,
            reader=hume_vidmimic2.index_hume_vidmimic2,
            layout_files=hume_vidmimic2.layout_files,
            transcripts=hume_vidmimic2.read_transcripts,
            transcript_setting="transcript_folder",
            demo=DemoData(
                "resources/demo_emi",
                make_demo_hume_vidmimic2,
                {"seed": "seed", "videos": "emi_videos", "frames": "emi_frames"},
            ),
        ),
        # BAH (A/H): one person answering a question per video, a 0/1 label per video, sound in the videos.
        Dataset(
            "bah",
            "ah",
            "subjects",
            (DETECTED, CROPPED_ALIGNED),
            sound=True,
            reader=bah.index_bah,
            layout_files=bah.layout_files,
            transcripts=bah.read_transcripts,
            transcript_setting="transcript_folder",
            crop_files=bah.crop_files,
            demo=DemoData(
                "resources/demo_ah",
                make_demo_bah,
                {"seed": "seed", "participants": "ah_participants", "frames": "ah_frames"},
            ),
        ),
    )
}


def datasets_with_source(source):
    return [name for name, dataset in DATASETS.items() if source in dataset.face_sources]


def datasets_with_sound():
    return [name for name, dataset in DATASETS.items() if dataset.sound]


def datasets_with_reader():
    """The datasets indexed by a rule made from their registered reader."""
    return [name for name, dataset in DATASETS.items() if dataset.reader]


def datasets_with_transcripts():
    """The datasets whose transcripts a registered reader can read (rule read_transcripts): text backbones read
    them, where the config names their folder."""
    return [name for name, dataset in DATASETS.items() if dataset.transcripts]


def has_transcripts(name, config):
    """Whether the config gives ``name``'s transcripts: a reader, and a folder named where it takes one."""
    dataset = DATASETS[name]
    setting = dataset.transcript_setting
    return bool(dataset.transcripts) and (not setting or bool(config[dataset.config_section].get(setting)))


def generated_datasets():
    """The datasets whose demo a rule made from their registration writes."""
    return [name for name, dataset in DATASETS.items() if dataset.demo]

"""The Hume-Reaction layout (ABAW5 ERI challenge): ``data_info.csv`` plus ``<split>/mp4/<id>.mp4`` and
``<split>/wav/<id>.wav``, one sample (one person reacting to one stimulus) per video.

``data_info.csv``: ``File_ID,Split,<7 emotions>[,Age,Country]``; ``File_ID`` is the id in brackets
(``[00000]``; a bare id is accepted too), ``Split`` is Train, Val or Test, test rows have empty label cells.
Labels are per video, so the label table has one row per sample and no frame column.
"""

import logging
import re
from pathlib import Path

import polars as pl

from abawflow.core.errors import AnnotationFormatError, DatasetLayoutError
from abawflow.datasets.csv_tables import parse_intensities, table_rows
from abawflow.tasks.specs import ERI

log = logging.getLogger(__name__)

SPLITS = {"train": "train", "val": "validation", "test": "test"}  # data_info.csv's Split, lower-cased
FILE_ID = re.compile(r"^\[?(\d+)\]?$")  # five digits in the release


def parse_file_id(text, where):
    match = FILE_ID.match(text.strip())
    if not match:
        raise AnnotationFormatError(f"{where}: File_ID {text!r} is not an id such as [00000]")
    return match.group(1)


def read_data_info(path):
    """Rows (id, split, intensities or None, line number) of ``data_info.csv``, checked line by line."""
    path = Path(path)
    columns = ("File_ID", "Split", *ERI.header)
    expected = f"File_ID,Split,{','.join(ERI.header)} (then optional columns such as Age,Country)"
    rows, seen = [], {}
    for number, cells in table_rows(path, columns, expected, "the Hume-Reaction sample list (data_info.csv)"):
        where = f"{path}, line {number}"
        sample = parse_file_id(cells["File_ID"], where)
        if sample in seen:
            raise AnnotationFormatError(f"{where}: sample {sample} is listed again (first on line {seen[sample]})")
        seen[sample] = number
        split = SPLITS.get(cells["Split"].lower())
        if split is None:
            raise AnnotationFormatError(f"{where}: Split {cells['Split']!r} is not one of Train, Val, Test")
        if split == "test":
            rows.append((sample, split, None, number))
        else:
            rows.append((sample, split, parse_intensities(cells, ERI.header, where), number))
    if not rows:
        raise AnnotationFormatError(f"{path}: no samples listed")
    return rows


def index_hume_reaction(root, info_file, video_folder, audio_folder, split_folders):
    """(subjects, splits, labels) of a Hume-Reaction root: subjects as the face and audio stages read them
    (``video_path``, and ``audio_path`` of the sound file unless ``audio_folder`` is empty), splits of task
    eri, and one label row per training and validation sample."""
    root = Path(root)
    info = root / info_file
    subjects, splits, labels = [], [], []
    for sample, split, intensities, number in read_data_info(info):
        folder = split_folders[split]
        video = Path(folder) / video_folder / f"{sample}.mp4"
        if not (root / video).is_file():
            raise DatasetLayoutError(f"{info}, line {number}: sample {sample}'s video {root / video} is missing")
        audio = Path(folder) / audio_folder / f"{sample}.wav" if audio_folder else video
        if not (root / audio).is_file():
            raise DatasetLayoutError(f"{info}, line {number}: sample {sample}'s sound file {root / audio} is missing")
        subjects.append((sample, sample, str(video), str(audio), "single"))
        splits.append((ERI.name, sample, split, f"{info_file}:{number}"))
        if intensities is not None:
            labels.append((sample, True, *intensities))
    subjects = pl.DataFrame(subjects, schema=["subject", "video", "video_path", "audio_path", "person"], orient="row")
    splits = pl.DataFrame(splits, schema=["task", "subject", "split", "source"], orient="row")
    labels = pl.DataFrame(
        labels,
        schema={"subject": pl.String, "annotated": pl.Boolean, **{name: pl.Float32 for name in ERI.label_columns}},
        orient="row",
    )
    for split, rows in splits.group_by("split", maintain_order=True):
        log.info("%s: %d samples", split[0], rows.height)
    return subjects, splits, labels

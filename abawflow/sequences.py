"""Per-subject sequences: backbone features, face mask, labels and label mask, frame-aligned.

Line-count policy (Aff-Wild2 annotation files are sometimes a few lines off the
decoded frame count): labels are anchored to frame numbers and never shifted.
Video frames after the last annotation line are unannotated; annotation lines
past the last decoded frame have no image and are ignored. Both cases are
logged per subject with the frame ranges involved.
"""

import logging
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from abawflow.errors import ConfigError
from abawflow.tasks import get_task

log = logging.getLogger(__name__)


@dataclass
class Sequence:
    subject: str
    frames: np.ndarray  # 1-based frame numbers, every decoded frame
    face_found: np.ndarray  # bool (T,)
    features: list  # one float32 (T, width) array per backbone
    targets: np.ndarray = None  # float32 (T, label columns)
    annotated: np.ndarray = None  # bool (T,)


def read_feature_tables(paths):
    """Read several backbones' feature tables into subject -> (frames, face_found, [features])."""
    sequences = {}
    for index, path in enumerate(paths):
        table = pq.read_table(path)
        width = table.schema.field("feature").type.list_size
        order = pl.from_arrow(table.select(["subject", "frame"])).with_row_index("row").sort(["subject", "frame"])
        vectors = table.column("feature").combine_chunks().flatten().to_numpy().reshape(len(table), width)
        found = table.column("face_found").to_numpy()
        for (subject,), group in order.group_by("subject", maintain_order=True):
            rows = group["row"].to_numpy()
            frames = group["frame"].to_numpy()
            if index == 0:
                sequences[subject] = Sequence(subject, frames, found[rows], [vectors[rows]])
                continue
            if subject not in sequences or not np.array_equal(sequences[subject].frames, frames):
                raise ConfigError(
                    f"{path}: frames of {subject!r} differ from those in {paths[0]}; rebuild the feature tables"
                )
            sequences[subject].features.append(vectors[rows])
    return sequences


def attach_labels(sequence, labels, task):
    """Align one subject's label rows (frame, annotated, label columns) to its decoded frames."""
    spec = get_task(task)
    frames = labels["frame"].to_numpy()
    count = len(sequence.frames)
    targets = np.zeros((count, len(spec.label_columns)), np.float32)
    annotated = np.zeros(count, bool)
    inside = frames <= count
    index = frames[inside] - 1
    targets[index] = labels.select(spec.label_columns).to_numpy()[inside]
    annotated[index] = labels["annotated"].to_numpy()[inside]
    lines = len(frames)
    if lines != count:
        mismatch = f"{sequence.subject}: annotation has {lines} frame lines, video has {count} frames; "
        if lines < count:
            note = mismatch + f"frames {lines + 1}..{count} are treated as unannotated"
        else:
            note = mismatch + f"lines for frames {count + 1}..{lines} have no image and are ignored"
        log.warning(note)
    sequence.targets, sequence.annotated = targets, annotated
    return sequence


def build_sequences(feature_paths, labels, splits, task):
    """Return split -> list of Sequences of ``task`` (train and validation carry labels; test does not)."""
    available = read_feature_tables(feature_paths)
    result = {}
    by_subject = labels.partition_by("subject", as_dict=True, maintain_order=True)
    for split in ("train", "validation", "test"):
        names = splits.filter((pl.col("task") == task) & (pl.col("split") == split))["subject"].to_list()
        missing = [name for name in names if name not in available]
        if missing:
            raise ConfigError(
                f"no face/feature rows for {', '.join(missing)} ({task} {split}); the face stage skipped them"
            )
        sequences = [available[name] for name in names]
        if split != "test":
            sequences = [attach_labels(s, by_subject[(s.subject,)], task) for s in sequences]
        result[split] = sequences
    return result

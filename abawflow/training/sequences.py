"""Per-subject sequences: backbone features, face mask, labels and label mask, frame-aligned.

Line-count policy (Aff-Wild2 annotation files are sometimes a few lines off the
decoded frame count): labels are anchored to frame numbers and never shifted.
Video frames after the last annotation line are unannotated; annotation lines
past the last decoded frame have no image and are ignored. Both cases are
logged per subject with the frame ranges involved.
"""

import logging
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from abawflow.core.errors import ConfigError
from abawflow.tasks.specs import TaskLayout, get_task
from abawflow.training.feature_matrix import FeatureStore

log = logging.getLogger(__name__)


@dataclass
class Sequence:
    subject: str
    frames: np.ndarray  # frame numbers in order (1-based; every decoded frame of a video)
    face_found: np.ndarray  # bool (T,): the frame has every table's input (a face, for image backbones)
    features: list = None  # one float32 (T, width) array per backbone, or None where ``store`` holds them
    targets: np.ndarray = None  # float32 (T, label columns of every task, in task order)
    annotated: np.ndarray = None  # bool (T, tasks)
    tasks: tuple = ()  # the tasks whose split this sequence belongs to
    store: FeatureStore = None  # the features of this and other sequences: rows offset .. offset + T
    offset: int = 0


def attach_store(sequences, device="cpu"):
    """Make ``sequences`` share one feature store: sequences built from arrays (``features``) get a resident
    store of them all, unless they already share one; sequences read from matrices keep theirs."""
    if not sequences or (sequences[0].store is not None and all(s.store is sequences[0].store for s in sequences)):
        return
    if any(s.features is None for s in sequences):
        raise ValueError("sequences of different feature matrices cannot share a batch")
    count = len(sequences[0].features)
    store = FeatureStore([np.concatenate([s.features[k] for s in sequences]) for k in range(count)], device=device)
    offset = 0
    for sequence in sequences:
        sequence.store, sequence.offset = store, offset
        offset += len(sequence.frames)


def read_feature_matrices(rows_paths, store):
    """Subject -> Sequence over ``store`` from the row tables of its matrices (subject, frame, face_found in
    matrix order; one per backbone, all with the same subjects and frames)."""
    first = pl.read_parquet(rows_paths[0])
    if len(first) != store.length:
        raise ConfigError(f"{rows_paths[0]} lists {len(first)} rows, its matrix has {store.length}; rebuild them")
    found = first["face_found"].to_numpy().copy()
    for path in rows_paths[1:]:
        other = pl.read_parquet(path)
        if len(other) != len(first) or not other.select("subject", "frame").equals(first.select("subject", "frame")):
            raise ConfigError(
                f"{path}: subjects or frames differ from those in {rows_paths[0]}; rebuild the feature tables"
            )
        # A frame counts where every table has its input: audio tables have every frame, image tables
        # the frames with a face.
        found &= other["face_found"].to_numpy()
    sequences = {}
    bounds = (
        first.with_row_index("row")
        .group_by("subject", maintain_order=True)
        .agg(pl.col("row").first().alias("start"), pl.len().alias("count"))
    )
    frames = first["frame"].to_numpy()
    for subject, start, count in bounds.iter_rows():
        rows = slice(start, start + count)
        sequences[subject] = Sequence(subject, frames[rows], found[rows], store=store, offset=start)
    return sequences


def task_labels(sequence, labels, task):
    """One subject's label rows (frame, annotated, label columns) aligned to its frames:
    (targets (T, label columns), annotated (T,))."""
    spec = get_task(task)
    if spec.granularity == "video":  # one label row per video (ERI): every frame carries it
        values = labels.select(spec.label_columns).to_numpy()
        count = len(sequence.frames)
        targets = np.repeat(values[:1].astype(np.float32), count, axis=0)
        return targets, np.full(count, bool(labels["annotated"][0]))
    frames = labels["frame"].to_numpy()
    values = labels.select(spec.label_columns).to_numpy()
    targets = np.zeros((len(sequence.frames), len(spec.label_columns)), np.float32)
    annotated = np.zeros(len(sequence.frames), bool)
    if not np.array_equal(sequence.frames, np.arange(1, len(sequence.frames) + 1)):
        # Sparse frames (s-Aff-Wild2 crops): every labelled image has its row.
        position = {frame: k for k, frame in enumerate(sequence.frames)}
        index = np.array([position.get(frame, -1) for frame in frames], dtype=np.int64)
        inside = index >= 0
        targets[index[inside]] = values[inside]
        annotated[index[inside]] = labels["annotated"].to_numpy()[inside]
        return targets, annotated
    count = len(sequence.frames)
    inside = frames <= count
    index = frames[inside] - 1
    targets[index] = values[inside]
    annotated[index] = labels["annotated"].to_numpy()[inside]
    lines = len(frames)
    if lines != count:
        mismatch = f"{sequence.subject} ({task}): annotation has {lines} frame lines, video has {count} frames; "
        if lines < count:
            note = mismatch + f"frames {lines + 1}..{count} are treated as unannotated"
        else:
            note = mismatch + f"lines for frames {count + 1}..{lines} have no image and are ignored"
        log.warning(note)
    return targets, annotated


def attach_labels(sequence, labels, tasks):
    """Attach the labels of ``tasks`` (one name, or several) to a sequence; ``labels``: one task's label rows
    of this subject, or task -> label rows for the tasks that annotate it in this split."""
    layout = TaskLayout(tasks)
    if isinstance(labels, pl.DataFrame):
        labels = {layout.tasks[0]: labels}
    targets = np.zeros((len(sequence.frames), layout.label_width), np.float32)
    annotated = np.zeros((len(sequence.frames), len(layout.tasks)), bool)
    for task, rows in labels.items():
        values, mask = task_labels(sequence, rows, task)
        targets[:, layout.labels[task]] = values
        annotated[:, layout.index(task)] = mask
    sequence.targets, sequence.annotated = targets, annotated
    sequence.tasks = tuple(task for task in layout.tasks if task in labels)
    return sequence


def build_sequences(rows_paths, store, labels, splits, tasks):
    """Return split -> list of Sequences for ``tasks`` (one name or several), over the feature matrices of
    ``store`` and their row tables ``rows_paths``.

    ``labels``: task -> label table (or one table for one task). A subject enters a split if it belongs
    to that split of any of the tasks, and carries the labels of exactly those tasks: a video that is in
    one task's training set and another's validation set never trains on the validation labels.
    """
    layout = TaskLayout(tasks)
    if isinstance(labels, pl.DataFrame):
        labels = {layout.tasks[0]: labels}
    available = read_feature_matrices(rows_paths, store)
    by_subject = {
        task: labels[task].partition_by("subject", as_dict=True, maintain_order=True) for task in layout.tasks
    }
    result = {}
    for split in ("train", "validation", "test"):
        members = {}
        for task in layout.tasks:
            rows = splits.filter((pl.col("task") == task) & (pl.col("split") == split))["subject"].to_list()
            for name in rows:
                members.setdefault(name, []).append(task)
        missing = [name for name in members if name not in available]
        if missing:
            raise ConfigError(
                f"no face/feature rows for {', '.join(missing)} ({'/'.join(layout.tasks)} {split}); "
                "the face stage skipped them"
            )
        sequences = []
        for name, member_of in members.items():
            sequence = replace(available[name])
            if split == "test":
                sequence.tasks = tuple(member_of)
            else:
                subject_labels = {}
                for task in member_of:
                    if (name,) not in by_subject[task]:
                        raise ConfigError(f"{name!r} is in the {task} {split} split but has no {task} label rows")
                    subject_labels[task] = by_subject[task][(name,)]
                attach_labels(sequence, subject_labels, layout.tasks)
            sequences.append(sequence)
        result[split] = sequences
    return result

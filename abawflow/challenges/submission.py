"""Prediction tables and ABAW submission files.

ABAW5/6 single-file format: exact header, one row per frame of every test
video, videos in test-list order, frames in order, image named ``<name>/<frame:05d>.jpg``.
"""

import logging

import numpy as np
import polars as pl

from abawflow.core.atomic import write_folder, write_text
from abawflow.core.errors import ConfigError, SubmissionError
from abawflow.tasks.specs import get_task

log = logging.getLogger(__name__)


def threshold_columns(task):
    """Per-AU thresholds tuned on validation travel in the prediction table (abawflow.predict.postprocessing)."""
    return [f"threshold_{name}" for name in get_task(task).label_columns]


def table_thresholds(task, table):
    """The per-AU thresholds a prediction table carries, or 0.5."""
    columns = threshold_columns(task)
    if all(c in table.columns for c in columns) and table.height:
        return table.select(columns).row(0)
    return 0.5


def output_columns(task):
    return get_task(task).output_columns


def prediction_table(task, subject, split, frames, face_found, values):
    table = pl.DataFrame(
        {"subject": subject, "split": split, "frame": frames.astype(np.int32), "face_found": face_found}
    )
    return table.with_columns(
        [pl.Series(name, values[:, k].astype(np.float32)) for k, name in enumerate(output_columns(task))]
    )


def face_coverage(predictions, minimum=0.5):
    """Per test video of a prediction table (its test rows): frames, frames with a face and their share,
    lowest share first. Each video below ``minimum`` is logged as a warning."""
    coverage = (
        predictions.group_by("subject")
        .agg(pl.len().alias("frames"), pl.col("face_found").sum().alias("frames_with_face"))
        .with_columns((pl.col("frames_with_face") / pl.col("frames")).alias("coverage"))
        .sort(["coverage", "subject"])
    )
    for subject, frames, with_face, share in coverage.filter(pl.col("coverage") < minimum).rows():
        log.warning(
            "test video %s: a face in %d of its %d frames (%.1f%%, below %.0f%%); the others are interpolated%s",
            subject,
            with_face,
            frames,
            100 * share,
            100 * minimum,
            ", or are the training prior where no face exists at all" if with_face == 0 else "",
        )
    return coverage


def image_location(subject, frame):
    return f"{subject}/{frame:05d}.jpg"


def checked_outputs(task, values, locate):
    """``values`` (decoded outputs, a row per frame) when every one is finite and in its kind's range; else a
    SubmissionError naming ``locate(row)``: a model that diverged never reaches a submission as 0s or nan."""
    spec = get_task(task)
    problem = spec.invalid_outputs(values)
    if problem:
        row, column, value = problem
        low, high = spec.kind.output_range
        raise SubmissionError(
            f"{task.upper()} prediction for {locate(row)}: {column} is {value:g}; expected a finite value "
            f"in [{low:g}, {high:g}]. Nothing was written."
        )
    return values


def decided_rows(task, predictions, test_names, frame_counts=None):
    """(subject, frames, decided values) per test subject, in ``test_names`` order; every frame from 1 on,
    and, with ``frame_counts`` (subject -> the video's decodable frames, from the index), every one of them."""
    spec = get_task(task)
    columns = output_columns(task)
    thresholds = table_thresholds(task, predictions)
    by_subject = predictions.partition_by("subject", as_dict=True)
    for subject in test_names:
        if (subject,) not in by_subject:
            raise ConfigError(f"no {task.upper()} predictions for test video {subject!r}")
        rows = by_subject[(subject,)].sort("frame")
        frames = rows["frame"].to_numpy()
        if not np.array_equal(frames, np.arange(1, len(frames) + 1)):
            raise ConfigError(
                f"{task.upper()} predictions for {subject!r} do not cover frames 1..{len(frames)} without gaps"
            )
        if frame_counts is not None and len(frames) != frame_counts[subject]:
            raise SubmissionError(
                f"{task.upper()} predictions for test video {subject!r} cover frames 1..{len(frames)}, but the "
                f"video has {frame_counts[subject]} frames (the index's probe). Nothing was written."
            )
        values = checked_outputs(
            task,
            rows.select(columns).to_numpy(),
            lambda row, subject=subject, frames=frames: f"test video {subject!r}, frame {int(frames[row])}",
        )
        yield subject, frames, spec.decide(values, thresholds)


def submission_text(task, predictions, test_names, frame_counts=None):
    """Text of the single-file submission of ``task`` for the test subjects ``test_names``, in that order."""
    spec = get_task(task)
    lines = [",".join(spec.submission_header)]
    for subject, frames, decided in decided_rows(task, predictions, test_names, frame_counts):
        lines.extend(
            f"{image_location(subject, int(f))},{spec.kind.format_decision(d)}"
            for f, d in zip(frames, decided, strict=True)
        )
    return "\n".join(lines) + "\n"


def per_video_texts(task, predictions, test_names, frame_counts=None):
    """ABAW3 format: ``<name>.txt`` per test video, the task's annotation header, then one line per frame."""
    spec = get_task(task)
    return {
        f"{subject}.txt": "\n".join([",".join(spec.header), *(spec.kind.format_decision(d) for d in decided)]) + "\n"
        for subject, _, decided in decided_rows(task, predictions, test_names, frame_counts)
    }


def write_submission(task, predictions, test_names, path, layout="abaw5", frame_counts=None):
    if layout == "abaw3":
        write_folder(path, per_video_texts(task, predictions, test_names, frame_counts))
    else:
        write_text(path, submission_text(task, predictions, test_names, frame_counts))


def write_task_submission(challenge, predictions, splits, path, layout="abaw5", subjects=None):
    """A VA, EXPR or AU submission from the test rows of a prediction table, in the order of the task's test
    list (the splits table); with the ``subjects`` table, every decodable frame of each test video."""
    tests = splits.filter((pl.col("task") == challenge.name) & (pl.col("split") == "test"))["subject"].to_list()
    frame_counts = None if subjects is None else dict(subjects.select("subject", "frames").rows())
    write_submission(challenge.name, predictions, tests, path, layout, frame_counts)

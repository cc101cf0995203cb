"""Challenges labelled per video (ERI on Hume-Reaction, EMI on Hume-Vidmimic2, A/H on BAH): per-video outputs
from a prediction table, and their submission files.

A prediction table has a row per frame (the shared prediction rules); a video's intensities are the mean of
its frames' outputs (with clip sampling, every frame carries the clip's output already).
"""

import polars as pl

from abawflow.challenges.submission import table_thresholds
from abawflow.core.atomic import write_text
from abawflow.core.errors import SubmissionError
from abawflow.tasks.specs import get_task


def video_outputs(predictions, task):
    """One row per subject: the mean over its frames of each output column."""
    columns = get_task(task).output_columns
    return predictions.group_by("subject", maintain_order=True).agg(pl.col(columns).mean())


def test_video_outputs(challenge, predictions, index):
    """(task spec, test videos in the index's order, video -> its outputs), every test video predicted and
    every output within the task's range."""
    (task,) = challenge.tasks
    spec = get_task(task)
    tests = index.filter((pl.col("task") == task) & (pl.col("split") == "test"))["subject"].to_list()
    outputs = video_outputs(predictions, task)
    by_subject = {row[0]: row[1:] for row in outputs.rows()}
    missing = [subject for subject in tests if subject not in by_subject]
    if missing:
        raise SubmissionError(
            f"{len(missing)} of the {len(tests)} {task.upper()} test videos have no prediction "
            f"(first: {missing[0]}); rerun predict for them"
        )
    values = outputs.filter(pl.col("subject").is_in(tests)).select(spec.output_columns).to_numpy()
    problem = spec.invalid_outputs(values)
    if problem:
        row, column, value = problem
        raise SubmissionError(f"{task.upper()} test predictions: {column} is {value!r} for a test video; expected 0..1")
    return spec, tests, by_subject


def write_video_submission(challenge, predictions, index, path, layout="abaw5", media=None):
    """The task's submission header, then one row per test video in the index's order (the label file's,
    or the test folder's sorted ids), its id written as ``challenge.submission_id`` says and its outputs
    clipped to the task's range."""
    spec, tests, by_subject = test_video_outputs(challenge, predictions, index)
    lines = [",".join(spec.submission_header)]
    for subject in tests:
        decided = spec.decide([list(by_subject[subject])])[0]
        lines.append(f"{challenge.submission_id.format(subject)},{spec.kind.format_decision(decided)}")
    write_text(path, "\n".join(lines) + "\n")


def write_trial_submission(
    challenge, predictions, index, path, layout="abaw5", media=None, submission_probabilities=True
):
    """A/H's trial file: no header, one line per test video in the test list's order, the video path as its
    id; ``id,p0,p1,pred`` (p0 + p1 = 1) or, without ``submission_probabilities``, ``id,pred``. ``pred`` is decided by
    the threshold the prediction table carries (chosen on the validation videos)."""
    spec, tests, by_subject = test_video_outputs(challenge, predictions, index)
    threshold = table_thresholds(spec.name, predictions)
    lines = []
    for subject in tests:
        positive = float(by_subject[subject][0])
        decided = spec.kind.format_decision(spec.decide([[positive]], threshold)[0])
        cells = [f"{1.0 - positive:.6f}", f"{positive:.6f}", decided] if submission_probabilities else [decided]
        lines.append(",".join([subject, *cells]))
    write_text(path, "\n".join(lines) + "\n")

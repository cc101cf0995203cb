"""The ERI challenge (Hume-Reaction): per-video outputs from a prediction table, and the submission file.

A prediction table has a row per frame (the shared prediction rules); a video's intensities are the mean of
its frames' outputs (with clip sampling, every frame carries the clip's output already).
"""

import polars as pl

from abawflow.core.atomic import write_text
from abawflow.core.errors import SubmissionError
from abawflow.tasks.specs import ERI, get_task


def video_outputs(predictions, task=ERI.name):
    """One row per subject: the mean over its frames of each output column."""
    columns = get_task(task).output_columns
    return predictions.group_by("subject", maintain_order=True).agg(pl.col(columns).mean())


def write_eri_submission(challenge, predictions, index, path, layout="abaw5", media=None):
    """``File_ID,<7 emotions>``, one row per test sample in data_info.csv order, ids in brackets."""
    tests = index.filter((pl.col("task") == ERI.name) & (pl.col("split") == "test"))["subject"].to_list()
    outputs = video_outputs(predictions)
    by_subject = {row[0]: row[1:] for row in outputs.rows()}
    missing = [subject for subject in tests if subject not in by_subject]
    if missing:
        raise SubmissionError(
            f"{len(missing)} of the {len(tests)} ERI test samples have no prediction (first: {missing[0]}); "
            "rerun predict for them"
        )
    values = outputs.filter(pl.col("subject").is_in(tests)).select(ERI.output_columns).to_numpy()
    problem = ERI.invalid_outputs(values)
    if problem:
        row, column, value = problem
        raise SubmissionError(f"ERI test predictions: {column} is {value!r} for a test sample; expected 0..1")
    lines = [",".join(ERI.submission_header)]
    for subject in tests:
        decided = ERI.decide([list(by_subject[subject])])[0]
        lines.append(f"[{subject}],{ERI.kind.format_decision(decided)}")
    write_text(path, "\n".join(lines) + "\n")

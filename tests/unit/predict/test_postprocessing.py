"""Post-processing of predictions: smoothing per video and per-AU thresholds tuned on validation."""

import numpy as np
import polars as pl
import pytest

from abawflow.challenges.submission import output_columns, prediction_table, submission_text, table_thresholds
from abawflow.predict.postprocessing import postprocess, smooth, tune_thresholds
from abawflow.tasks.specs import ACTION_UNITS


def test_smoothing_is_a_moving_average_within_each_video():
    values = np.array([[0.0, 0.0], [3.0, 3.0], [0.0, 0.0], [6.0, 6.0]]) / 10
    table = pl.concat(
        [
            prediction_table("va", "a", "test", np.arange(1, 5), np.ones(4, bool), values),
            prediction_table("va", "b", "test", np.arange(1, 3), np.ones(2, bool), np.array([[1.0, 1.0], [0.0, 0.0]])),
        ]
    )
    smoothed = smooth("va", table, 3)
    a = smoothed.filter(pl.col("subject") == "a")["predicted_valence"].to_numpy()
    # Ends average the frames that exist: (0 + 0.3) / 2, then (0 + 0.3 + 0) / 3, ...
    assert a == pytest.approx([0.15, 0.1, 0.3, 0.3], abs=1e-6)
    b = smoothed.filter(pl.col("subject") == "b")["predicted_valence"].to_numpy()
    assert b == pytest.approx([0.5, 0.5])  # video a does not leak into video b
    assert smooth("va", table, 0).equals(table)


def test_smoothed_class_probabilities_stay_distributions():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(8), size=20)
    table = prediction_table("expr", "a", "validation", np.arange(1, 21), np.ones(20, bool), probabilities)
    smoothed = smooth("expr", table, 5).select(output_columns("expr")).to_numpy()
    assert smoothed.sum(1) == pytest.approx(np.ones(20), abs=1e-5)


def test_tuned_thresholds_maximise_each_aus_f1():
    # AU 0 is present when its probability exceeds 0.3; AU 1 when it exceeds 0.7.
    rng = np.random.default_rng(0)
    probabilities = rng.random((400, 2))
    truth = np.stack([probabilities[:, 0] > 0.3, probabilities[:, 1] > 0.7], 1).astype(int)
    assert tune_thresholds(probabilities, truth) == pytest.approx([0.3, 0.7], abs=0.051)


def test_tuned_thresholds_travel_with_the_table_into_the_submission():
    rng = np.random.default_rng(1)
    frames = np.arange(1, 51)
    probabilities = rng.random((50, 12))
    truth = (probabilities > 0.25).astype(np.int64)
    table = pl.concat(
        [
            prediction_table("au", "v", "validation", frames, np.ones(50, bool), probabilities),
            prediction_table("au", "t", "test", frames, np.ones(50, bool), probabilities),
        ]
    )
    labels = pl.DataFrame({"subject": "v", "frame": frames.astype(np.int32), "annotated": True}).with_columns(
        [pl.Series(name, truth[:, k]) for k, name in enumerate(ACTION_UNITS)]
    )
    tuned = postprocess("au", table, {"au_thresholds": "tuned"}, labels)
    thresholds = np.array(table_thresholds("au", tuned))
    assert np.all(np.abs(thresholds - 0.25) <= 0.05)
    text = submission_text("au", tuned.filter(pl.col("split") == "test"), ["t"])
    rows = np.array([[int(v) for v in line.split(",")[1:]] for line in text.splitlines()[1:]])
    assert np.array_equal(rows, (probabilities >= thresholds).astype(int))
    assert table_thresholds("au", table) == 0.5
    with pytest.raises(ValueError, match="no annotated validation frame"):
        postprocess("au", table, {"au_thresholds": "tuned"}, labels.with_columns(pl.lit(False).alias("annotated")))

import numpy as np
import polars as pl
import pytest

from abawflow.challenges.submission import prediction_table, submission_text
from abawflow.core.errors import ConfigError
from abawflow.tasks.specs import ACTION_UNITS, EXPRESSIONS


def predictions(task, lengths, width):
    rng = np.random.default_rng(0)
    tables = []
    for subject, length in lengths.items():
        values = rng.uniform(-1, 1, size=(length, width)) if task == "va" else rng.random((length, width))
        # stored shuffled: the writer must order frames itself
        order = rng.permutation(length)
        tables.append(
            prediction_table(
                task, subject, "test", np.arange(1, length + 1)[order], np.ones(length, bool), values[order]
            )
        )
    return pl.concat(tables)


def test_va_submission_header_count_and_order():
    text = submission_text("va", predictions("va", {"b": 3, "a_left": 2}, 2), ["b", "a_left"])
    lines = text.splitlines()
    assert lines[0] == "image_location,valence,arousal"
    assert len(lines) == 1 + 5
    assert [line.split(",")[0] for line in lines[1:]] == [
        "b/00001.jpg",
        "b/00002.jpg",
        "b/00003.jpg",
        "a_left/00001.jpg",
        "a_left/00002.jpg",
    ]
    assert all(-1 <= float(v) <= 1 for line in lines[1:] for v in line.split(",")[1:])


def test_expr_and_au_rows():
    expr = submission_text("expr", predictions("expr", {"v": 4}, 8), ["v"]).splitlines()
    assert expr[0] == "image_location," + ",".join(EXPRESSIONS)
    assert all(len(line.split(",")) == 2 and 0 <= int(line.split(",")[1]) <= 7 for line in expr[1:])
    au = submission_text("au", predictions("au", {"v": 4}, 12), ["v"]).splitlines()
    assert au[0] == "image_location," + ",".join(ACTION_UNITS)
    assert all(len(line.split(",")) == 13 and set(line.split(",")[1:]) <= {"0", "1"} for line in au[1:])


def test_expr_submission_is_the_argmax():
    values = np.zeros((2, 8))
    values[0, 4] = 0.9
    values[1, 7] = 0.6
    table = prediction_table("expr", "v", "test", np.array([1, 2]), np.ones(2, bool), values)
    assert submission_text("expr", table, ["v"]).splitlines()[1:] == ["v/00001.jpg,4", "v/00002.jpg,7"]


def test_missing_video_or_frame_gap_is_an_error():
    table = predictions("va", {"a": 3}, 2)
    with pytest.raises(ConfigError, match="no VA predictions for test video 'b'"):
        submission_text("va", table, ["a", "b"])
    with pytest.raises(ConfigError, match="do not cover frames"):
        submission_text("va", table.filter(pl.col("frame") != 2), ["a"])


def test_outputs_that_are_not_finite_or_out_of_range_stop_the_submission_at_their_frame():
    """NaN valence used to be written as `nan` and NaN AU probabilities as 0; both are errors now."""
    from abawflow.core.errors import SubmissionError

    va = predictions("va", {"v": 5}, 2)
    broken = va.with_columns(
        pl.when(pl.col("frame") == 4)
        .then(float("nan"))
        .otherwise(pl.col("predicted_arousal"))
        .alias("predicted_arousal")
    )
    with pytest.raises(SubmissionError, match=r"VA prediction for test video 'v', frame 4: predicted_arousal is nan"):
        submission_text("va", broken, ["v"])
    au = predictions("au", {"v": 3}, 12)
    broken = au.with_columns(
        pl.when(pl.col("frame") == 2).then(1.5).otherwise(pl.col("probability_AU12")).alias("probability_AU12")
    )
    with pytest.raises(SubmissionError, match=r"frame 2: probability_AU12 is 1.5; expected a finite value in \[0, 1\]"):
        submission_text("au", broken, ["v"])


def test_a_prediction_table_short_of_the_videos_last_frames_stops_the_submission():
    from abawflow.core.errors import SubmissionError

    table = predictions("va", {"a": 5, "b": 4}, 2)
    assert submission_text("va", table, ["a", "b"], {"a": 5, "b": 4}).count("\n") == 1 + 9
    with pytest.raises(SubmissionError, match="test video 'b' cover frames 1..4, but the video has 6 frames"):
        submission_text("va", table, ["a", "b"], {"a": 5, "b": 6})


def test_face_coverage_lists_every_test_video_and_warns_below_the_minimum(caplog):
    import logging

    from abawflow.challenges.submission import face_coverage

    table = predictions("va", {"seen": 10, "rare": 10, "never": 4}, 2)
    found = (pl.col("subject") == "seen") | ((pl.col("subject") == "rare") & (pl.col("frame") <= 3))
    table = table.with_columns(face_found=found)
    with caplog.at_level(logging.WARNING):
        coverage = face_coverage(table, minimum=0.5)
    assert coverage.select("subject", "frames", "frames_with_face").rows() == [
        ("never", 4, 0),
        ("rare", 10, 3),
        ("seen", 10, 10),
    ]
    assert "test video rare: a face in 3 of its 10 frames (30.0%, below 50%)" in caplog.text
    assert "test video never: a face in 0 of its 4 frames" in caplog.text and "training prior" in caplog.text
    assert "seen" not in caplog.text

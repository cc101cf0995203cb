"""The challenge registry: tasks, and each challenge's submission writer through one interface."""

import numpy as np
import polars as pl
import pytest

from abawflow.challenges.registry import CHALLENGES, get_challenge
from abawflow.challenges.submission import prediction_table
from abawflow.core.errors import SubmissionError
from abawflow.predict.ensembles import KEYS
from abawflow.tasks.specs import ALL_TASKS


def test_registered_challenges_name_known_tasks():
    assert set(CHALLENGES) == {"va", "expr", "au", "mtl", "eri", "emi", "ah"}
    for challenge in CHALLENGES.values():
        assert set(challenge.tasks) <= set(ALL_TASKS)
    assert get_challenge("mtl").joint and not get_challenge("va").joint
    assert get_challenge("mtl").submission_index == "images" and get_challenge("au").submission_index == "splits"
    assert get_challenge("eri").dataset == "hume_reaction" and get_challenge("eri").granularity == "video"
    assert get_challenge("eri").submission_suffix == "csv"
    assert get_challenge("emi").dataset == "hume_vidmimic2" and get_challenge("emi").submission_suffix == "csv"
    with pytest.raises(KeyError, match="unknown challenge 'muse'; registered: va, expr, au, mtl, eri, emi, ah"):
        get_challenge("muse")


def mtl_predictions(subject, frames, rng):
    parts = [
        prediction_table(
            "va", subject, "test", frames, np.ones(len(frames), bool), rng.uniform(-1, 1, (len(frames), 2))
        ),
        prediction_table(
            "expr", subject, "test", frames, np.ones(len(frames), bool), rng.dirichlet(np.ones(8), len(frames))
        ),
        prediction_table(
            "au", subject, "test", frames, np.ones(len(frames), bool), rng.uniform(0, 1, (len(frames), 12))
        ),
    ]
    return pl.concat([parts[0], *(p.drop(KEYS) for p in parts[1:])], how="horizontal")


def test_the_mtl_writer_follows_the_test_image_list_and_checks_every_output(tmp_path):
    rng = np.random.default_rng(0)
    predictions = mtl_predictions("video1", np.array([3, 7, 9]), rng)
    images = pl.DataFrame(
        {
            "position": [2, 1, 3],
            "image": ["video1/00007.jpg", "video1/00003.jpg", "video1/00009.jpg"],
            "subject": ["video1"] * 3,
            "frame": [7, 3, 9],
            "split": ["test"] * 3,
        }
    )
    path = tmp_path / "mtl.txt"
    get_challenge("mtl").write_submission(predictions, images, path)
    lines = path.read_text().splitlines()
    assert lines[0] == "image,valence,arousal,expression,aus"
    assert [line.split(",")[0] for line in lines[1:]] == ["video1/00003.jpg", "video1/00007.jpg", "video1/00009.jpg"]
    assert all(len(line.split(",")) == 16 for line in lines[1:])
    broken = predictions.with_columns(
        pl.when(pl.col("frame") == 7).then(float("nan")).otherwise(pl.col("probability_AU1")).alias("probability_AU1")
    )
    with pytest.raises(
        SubmissionError, match=r"AU prediction for test image 'video1/00007.jpg': probability_AU1 is nan"
    ):
        get_challenge("mtl").write_submission(broken, images, tmp_path / "broken.txt")
    assert not (tmp_path / "broken.txt").exists()


def test_a_video_challenge_writes_its_test_list_in_order(tmp_path):
    rng = np.random.default_rng(1)
    tables = [
        prediction_table("va", name, "test", np.arange(1, 4), np.ones(3, bool), rng.uniform(-1, 1, (3, 2)))
        for name in ("b", "a")
    ]
    splits = pl.DataFrame({"task": ["va", "va", "expr"], "subject": ["b", "a", "c"], "split": ["test"] * 3})
    get_challenge("va").write_submission(pl.concat(tables), splits, tmp_path / "va.txt")
    lines = (tmp_path / "va.txt").read_text().splitlines()
    assert [line.split("/")[0] for line in lines[1:]] == ["b"] * 3 + ["a"] * 3

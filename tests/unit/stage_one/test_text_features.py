"""The weight-free text features: the same text gives the same row in every process, words that differ
give rows that differ, and each frame hears the words spoken around it."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from abawflow.stage_one.text_features import frame_texts, hashed_bag_of_words, words

pytestmark = pytest.mark.unit


def test_rows_are_unit_length_deterministic_and_tell_texts_apart():
    texts = ["I am not sure, really.", "I AM NOT SURE really", "Yes, absolutely sure!", ""]
    rows = hashed_bag_of_words(texts, width=64)
    assert rows.shape == (4, 64) and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows[:3], axis=1), 1.0, rtol=1e-6)
    assert not rows[3].any()  # no words, no features
    np.testing.assert_array_equal(rows[0], rows[1])  # case and punctuation do not count
    assert rows[0] @ rows[2] < 0.5  # different words, different directions
    assert not np.array_equal(hashed_bag_of_words(["not sure"], 64), hashed_bag_of_words(["sure not"], 64))
    assert np.array_equal(
        hashed_bag_of_words(["not sure"], 64, pairs=False), hashed_bag_of_words(["sure not"], 64, pairs=False)
    )
    assert words("Don't 'quote' me") == ["don't", "quote", "me"]
    with pytest.raises(ValueError, match="width must be at least 2"):
        hashed_bag_of_words(["a"], width=1)


def test_the_same_text_gives_the_same_bytes_whatever_pythons_hash_seed():
    code = (
        "from abawflow.stage_one.text_features import hashed_bag_of_words as h; "
        "print(h(['maybe, I guess'], 32).tobytes().hex())"
    )
    repository = str(Path(__file__).resolve().parents[3])
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": repository},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1 and outputs.pop().strip() == hashed_bag_of_words(["maybe, I guess"], 32).tobytes().hex()


def test_each_frame_hears_the_chunks_around_it():
    chunks = [(31.0, 32.0, "Yes."), (0.0, 2.5, "I am not sure,"), (27.0, 29.5, "really.")]
    heard = frame_texts(chunks, [0.0, 10.0, 29.0, 30.0, 40.0], window_seconds=4.0)
    assert heard == ["I am not sure,", "", "really. Yes.", "really. Yes.", ""]


def test_a_text_backbones_table_has_every_frame_and_reads_the_words_around_it(tmp_path):
    import polars as pl

    from abawflow.stage_one.text_features import extract_text_features

    subjects = pl.DataFrame(
        {"subject": ["a", "b"], "video": ["a", "b"], "person": ["single"] * 2, "frames": [40, 3], "fps": [10.0, 10.0]}
    )
    transcripts = pl.DataFrame(
        {"subject": ["a", "a"], "start": [0.0, 3.0], "end": [1.0, 4.0], "text": ["yes, definitely", "um, maybe"]}
    )
    spec = {"extractor": "hashed_words", "text": {"scope": "frame", "window_seconds": 1.0, "width": 32, "pairs": True}}
    extract_text_features(subjects, transcripts, spec, tmp_path / "frame.parquet")
    table = pl.read_parquet(tmp_path / "frame.parquet")
    assert table.height == 43 and table["face_found"].all()
    rows = {(s, f): np.array(v) for s, f, v in table.select("subject", "frame", "feature").iter_rows()}
    early, late = hashed_bag_of_words(["yes, definitely", "um, maybe"], 32)
    assert np.allclose(rows[("a", 1)], early) and np.allclose(rows[("a", 36)], late)
    assert not rows[("a", 20)].any() and not rows[("b", 2)].any()  # nothing said around frame 20; b has no text
    spec["text"]["scope"] = "video"
    extract_text_features(subjects, transcripts, spec, tmp_path / "video.parquet")
    whole = pl.read_parquet(tmp_path / "video.parquet").filter(pl.col("subject") == "a")["feature"].to_list()
    assert all(np.allclose(row, hashed_bag_of_words(["yes, definitely um, maybe"], 32)[0]) for row in whole)

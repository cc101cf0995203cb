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

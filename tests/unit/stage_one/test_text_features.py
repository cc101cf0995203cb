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


def two_videos(frames_a, frames_b, texts):
    """The index of videos ``a`` and ``b`` at 10 fps, and ``a``'s transcript: ``texts`` as (start, end, text)."""
    import polars as pl

    subjects = pl.DataFrame(
        {
            "subject": ["a", "b"],
            "video": ["a", "b"],
            "person": ["single"] * 2,
            "frames": [frames_a, frames_b],
            "fps": [10.0, 10.0],
        }
    )
    starts, ends, words_said = zip(*texts, strict=True)
    transcripts = pl.DataFrame(
        {"subject": ["a"] * len(texts), "start": list(starts), "end": list(ends), "text": list(words_said)}
    )
    return subjects, transcripts


def frame_rows(path):
    """(subject, frame) -> feature row of a written table."""
    import polars as pl

    table = pl.read_parquet(path).select("subject", "frame", "feature")
    return {(subject, frame): np.array(row) for subject, frame, row in table.iter_rows()}


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

    subjects, transcripts = two_videos(40, 3, [(0.0, 1.0, "yes, definitely"), (3.0, 4.0, "um, maybe")])
    spec = {
        "extractor": "hashed_words",
        "output_width": 32,
        "text": {"scope": "frame", "window_seconds": 1.0, "width": 32, "pairs": True},
    }
    extract_text_features(subjects, transcripts, spec, tmp_path / "frame.parquet")
    table = pl.read_parquet(tmp_path / "frame.parquet")
    assert table.height == 43 and table["face_found"].all()
    rows = frame_rows(tmp_path / "frame.parquet")
    early, late = hashed_bag_of_words(["yes, definitely", "um, maybe"], 32)
    assert np.allclose(rows[("a", 1)], early) and np.allclose(rows[("a", 36)], late)
    assert not rows[("a", 20)].any() and not rows[("b", 2)].any()  # nothing said around frame 20; b has no text
    spec["text"]["scope"] = "video"
    extract_text_features(subjects, transcripts, spec, tmp_path / "video.parquet")
    whole = pl.read_parquet(tmp_path / "video.parquet").filter(pl.col("subject") == "a")["feature"].to_list()
    assert all(np.allclose(row, hashed_bag_of_words(["yes, definitely um, maybe"], 32)[0]) for row in whole)


def test_a_model2vec_folder_is_read_by_the_package_and_embeds_each_frames_words(tmp_path):
    import polars as pl
    from model2vec import StaticModel
    from support.text_models import make_model2vec_folder

    from abawflow.stage_one.text_features import extract_text_features, model2vec_width

    folder = make_model2vec_folder(tmp_path / "potion-tiny", width=16)
    assert model2vec_width(folder) == 16
    subjects, transcripts = two_videos(40, 3, [(0.0, 1.0, "Yes, definitely"), (3.0, 4.0, "um, maybe")])
    spec = {
        "extractor": "model2vec",
        "output_width": 16,
        "text": {"scope": "frame", "window_seconds": 1.0, "model_folder": str(folder)},
    }
    extract_text_features(subjects, transcripts, spec, tmp_path / "frame.parquet")
    table = pl.read_parquet(tmp_path / "frame.parquet")
    assert table.height == 43 and table.schema["feature"] == pl.Array(pl.Float32, 16)
    rows = frame_rows(tmp_path / "frame.parquet")
    reference = StaticModel.from_pretrained(str(folder)).encode(["Yes, definitely", "um, maybe"])
    np.testing.assert_allclose(rows[("a", 1)], reference[0], rtol=1e-6)
    np.testing.assert_allclose(rows[("a", 36)], reference[1], rtol=1e-6)
    assert not rows[("a", 20)].any()  # nothing said around frame 20
    sure, unsure = rows[("a", 1)], rows[("a", 36)]
    assert np.linalg.norm(sure) == pytest.approx(1.0, rel=1e-5)  # the model's config normalises
    certainly = StaticModel.from_pretrained(str(folder)).encode(["certainly"])[0]
    assert certainly @ sure > certainly @ unsure  # words of one feeling embed near each other


def test_a_sentence_transformers_folder_is_read_by_the_package_on_the_cpu(tmp_path):
    from sentence_transformers import SentenceTransformer
    from support.text_models import make_sentence_transformers_folder

    from abawflow.core.errors import ModelLoadError
    from abawflow.stage_one.text_features import extract_text_features, sentence_transformers_width

    folder = make_sentence_transformers_folder(tmp_path / "mini-bert", width=16)
    assert sentence_transformers_width(folder) == 16
    subjects, transcripts = two_videos(20, 2, [(0.0, 1.0, "yes, definitely sure")])
    spec = {
        "extractor": "sentence_transformers",
        "output_width": 16,
        "text": {"scope": "frame", "window_seconds": 1.0, "model_folder": str(folder)},
    }
    extract_text_features(subjects, transcripts, spec, tmp_path / "table.parquet")
    rows = frame_rows(tmp_path / "table.parquet")
    reference = SentenceTransformer(str(folder), device="cpu").encode(["yes, definitely sure"])[0]
    np.testing.assert_allclose(rows[("a", 1)], reference, rtol=1e-5, atol=1e-6)
    assert not rows[("a", 20)].any() and not rows[("b", 1)].any()  # nothing said: zeros, whatever the model
    with pytest.raises(ModelLoadError, match="sentence_transformers gives 16 features, but the backbone's output"):
        extract_text_features(subjects, transcripts, {**spec, "output_width": 8}, tmp_path / "wrong.parquet")
    assert not (tmp_path / "wrong.parquet").exists()


def test_the_width_of_a_sentence_transformers_folder_of_either_format(tmp_path):
    import json

    from abawflow.stage_one.text_features import sentence_transformers_width

    pooling = "sentence_transformers.models.Pooling"
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "modules.json").write_text(
        json.dumps([{"path": "", "type": "x.Transformer"}, {"path": "1_Pooling", "type": pooling}])
    )
    old = {"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True}
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(old))
    assert sentence_transformers_width(tmp_path) == 768  # mean and max, concatenated
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 384, "pooling_mode": "cls"}))
    assert sentence_transformers_width(tmp_path) == 384
    (tmp_path / "2_Dense").mkdir()
    (tmp_path / "2_Dense" / "config.json").write_text(json.dumps({"in_features": 384, "out_features": 256}))
    modules = json.loads((tmp_path / "modules.json").read_text()) + [{"path": "2_Dense", "type": "x.Dense"}]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    assert sentence_transformers_width(tmp_path) == 256

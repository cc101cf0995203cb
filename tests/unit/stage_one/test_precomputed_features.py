"""Features a dataset ships per video (Hume-Vidmimic2's vit/ and wav2vec2/ .pkl files): read in each form they
come in, spread over the video's frames, and refused with the file named when they are not a T x D array."""

import pickle

import numpy as np
import polars as pl
import pytest

from abawflow.stage_one.precomputed_features import (
    PrecomputedFeatureError,
    find_feature_file,
    read_feature_file,
    read_precomputed_features,
    spread_rows,
)

pytestmark = pytest.mark.unit


def dump(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        pickle.dump(value, file)
    return path


def test_rows_spread_evenly_over_the_frames():
    rows = np.arange(10, dtype=np.float32)[:, None]
    assert spread_rows(rows, 10)[:, 0].tolist() == list(range(10))  # one row per frame: each its own
    assert spread_rows(rows, 5)[:, 0].tolist() == [1, 3, 5, 7, 9]  # the row at each frame's middle
    assert spread_rows(rows, 20)[:, 0].tolist() == [k // 2 for k in range(20)]
    assert spread_rows(rows[:1], 4)[:, 0].tolist() == [0, 0, 0, 0]  # one vector for the whole video


def test_every_form_of_the_array_is_read(tmp_path):
    import torch

    array = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    for name, value in {"array": array, "list": array.tolist(), "tensor": torch.from_numpy(array)}.items():
        np.testing.assert_allclose(read_feature_file(dump(tmp_path / f"{name}.pkl", value), 4), array)
    np.save(tmp_path / "saved.npy", array.astype(np.float64))
    np.testing.assert_allclose(read_feature_file(tmp_path / "saved.npy", 4), array, rtol=1e-6)
    assert read_feature_file(dump(tmp_path / "vector.pkl", array[0]), 4).shape == (1, 4)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((5, 3)), r"expected a T x 4 array \(output_width 4\), got shape \(5, 3\)"),
        (np.zeros((0, 4)), r"got shape \(0, 4\)"),
        (np.array([[0.0] * 4, [np.nan] * 4]), "row 1 of the features is not finite"),
        ({"features": [1, 2]}, "expected a T x 4 array of numbers, got dict"),
    ],
)
def test_a_file_that_is_not_a_t_by_d_array_is_named(tmp_path, value, message):
    path = dump(tmp_path / "00007.pkl", value)
    with pytest.raises(PrecomputedFeatureError, match=message) as raised:
        read_feature_file(path, 4)
    assert str(path) in str(raised.value)


def test_a_damaged_or_missing_file_is_named(tmp_path):
    (tmp_path / "vit").mkdir()
    (tmp_path / "vit" / "00001.pkl").write_bytes(b"not a pickle")
    with pytest.raises(PrecomputedFeatureError, match=r"00001.pkl: cannot read the features \(UnpicklingError"):
        read_feature_file(tmp_path / "vit" / "00001.pkl", 4)
    with pytest.raises(PrecomputedFeatureError, match=r"no precomputed feature file for video '00002' in .*vit, "):
        find_feature_file(tmp_path, ["vit", "test/vit"], "00002", ".pkl")


def test_the_table_has_every_frame_of_every_video_from_the_folders_in_order(tmp_path):
    rng = np.random.default_rng(1)
    train, test = rng.normal(size=(50, 4)), rng.normal(size=(3, 4))
    dump(tmp_path / "vit" / "00001.pkl", train)
    dump(tmp_path / "test" / "vit" / "00009.pkl", test)
    subjects = pl.DataFrame(
        {"subject": ["00001", "00009"], "video": ["00001", "00009"], "person": ["single"] * 2, "frames": [25, 6]}
    )
    spec = {"output_width": 4, "precomputed": {"folders": ["vit", "test/vit"], "extension": ".pkl"}}
    read_precomputed_features(subjects, tmp_path, spec, tmp_path / "table.parquet")
    table = pl.read_parquet(tmp_path / "table.parquet")
    assert table.height == 31 and table["face_found"].all()
    first = np.array(table.filter(pl.col("subject") == "00001")["feature"].to_list())
    np.testing.assert_allclose(first, train[1::2].astype(np.float32))  # 50 rows over 25 frames: every second
    last = np.array(table.filter(pl.col("subject") == "00009")["feature"].to_list())
    np.testing.assert_allclose(last, np.repeat(test, 2, axis=0).astype(np.float32))

"""Feature matrices and the feature store: the sorted matrix a table converts to, windows gathered by index
(resident or read from disk) equal to the per-window copies the trainer made before, bounded memory,
statistics equal to NumPy's, and the same trained model whichever way the features are held."""

import json
import subprocess
import sys

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from abawflow.core.errors import ConfigError
from abawflow.stage_one.face_table import feature_schema
from abawflow.training.feature_matrix import FeatureStore, contiguous_runs, write_feature_matrix
from abawflow.training.regimes import collate, make_windows
from abawflow.training.sequences import attach_labels, build_sequences, read_feature_matrices
from abawflow.training.temporal import train

MODEL = {
    "fusion": {"name": "affine_concat", "width": 16, "dropout": 0.1},
    "encoder": {"name": "transformer", "layers": 1, "heads": 2, "feedforward": 32, "dropout": 0.1},
}
RECIPE = {
    "seed": 5,
    "window": 12,
    "stride": 5,
    "epochs": 2,
    "batch_size": 3,
    "learning_rate": 3e-3,
    "weight_decay": 0.0,
    "shuffle_labels": False,
}


def write_table(path, rows, width, rng):
    """A feature table in the face stage's order: ``rows`` (subject, frame) as given; features random, zeros
    where there is no face (every fourth frame)."""
    subjects = [s for s, _ in rows]
    frames = [f for _, f in rows]
    found = np.array([f % 4 != 0 for f in frames])
    features = rng.normal(size=(len(rows), width)).astype(np.float32) * found[:, None]
    table = pa.table(
        [
            pa.array(subjects),
            pa.array([s.removesuffix("_left").removesuffix("_right") for s in subjects]),
            pa.array(
                ["left" if s.endswith("_left") else "right" if s.endswith("_right") else "single" for s in subjects]
            ),
            pa.array(frames, pa.int32()),
            pa.array(found),
            pa.FixedSizeListArray.from_arrays(pa.array(features.reshape(-1)), width),
        ],
        schema=feature_schema(width),
    )
    pq.write_table(table, path, row_group_size=7)
    keys = list(zip(subjects, frames, strict=True))
    return dict(zip(keys, features, strict=True)), dict(zip(keys, found, strict=True))


def interleaved_rows():
    """Two people of one video frame by frame (as the face stage writes them), then a single-person video."""
    rows = [(person, frame) for frame in range(1, 31) for person in ("v1_left", "v1_right")]
    return rows + [("v0", frame) for frame in range(1, 41)]


@pytest.fixture
def tables(tmp_path):
    rng = np.random.default_rng(0)
    paths, vectors, found = [], [], []
    for k, width in enumerate((6, 3)):
        table = tmp_path / f"backbone{k}.parquet"
        values, flags = write_table(table, interleaved_rows(), width, rng)
        matrix, rows = tmp_path / "matrices" / f"backbone{k}.npy", tmp_path / "matrices" / f"backbone{k}.rows.parquet"
        write_feature_matrix(table, matrix, rows)
        paths.append((matrix, rows))
        vectors.append(values)
        found.append(flags)
    return paths, vectors, found


def test_matrix_rows_are_sorted_by_subject_and_frame(tables):
    paths, vectors, found = tables
    (matrix, rows), values = paths[0], vectors[0]
    listed = pl.read_parquet(rows)
    assert listed.columns == ["subject", "frame", "face_found"]
    assert listed["subject"].to_list() == ["v0"] * 40 + ["v1_left"] * 30 + ["v1_right"] * 30
    assert listed["frame"].to_list() == [*range(1, 41), *range(1, 31), *range(1, 31)]
    loaded = np.load(matrix)
    assert loaded.dtype == np.float32 and loaded.shape == (100, 6)
    for row, (subject, frame, flag) in enumerate(listed.iter_rows()):
        assert np.array_equal(loaded[row], values[(subject, frame)])
        assert flag == found[0][(subject, frame)]


def test_sequences_are_contiguous_row_ranges_of_the_store(tables):
    paths, vectors, _ = tables
    store = FeatureStore.open([m for m, _ in paths], memory_limit_bytes=0)
    sequences = read_feature_matrices([r for _, r in paths], store)
    assert [(s.subject, s.offset, len(s.frames)) for s in sequences.values()] == [
        ("v0", 0, 40),
        ("v1_left", 40, 30),
        ("v1_right", 70, 30),
    ]
    right = sequences["v1_right"]
    for k in range(2):
        read = store.read(k, right.offset, right.offset + 30)
        assert np.array_equal(read, np.stack([vectors[k][("v1_right", f)] for f in range(1, 31)]))


def reference_collate(items, window, with_labels):
    """The trainer's windows before the feature store: one copy per window from per-sequence arrays."""
    batch = len(items)
    widths = [f.shape[1] for f in items[0][0].features]
    features = [np.zeros((batch, window, w), np.float32) for w in widths]
    padding = np.ones((batch, window), bool)
    targets = np.zeros((batch, window, items[0][0].targets.shape[1]), np.float32)
    mask = np.zeros((batch, window, items[0][0].annotated.shape[1]), bool)
    for b, item in enumerate(items):
        sequence, rows = item[0], slice(item[1], item[2]) if len(item) == 3 else item[1]
        n = item[2] - item[1] if len(item) == 3 else len(rows)
        for k, f in enumerate(sequence.features):
            features[k][b, :n] = f[rows]
        padding[b, :n] = ~sequence.face_found[rows]
        targets[b, :n] = sequence.targets[rows]
        mask[b, :n] = sequence.annotated[rows] & sequence.face_found[rows, None]
    return features, padding, targets, mask


def labelled(sequence, rng):
    frames = sequence.frames
    labels = pl.DataFrame(
        {
            "subject": [sequence.subject] * len(frames),
            "frame": frames,
            "annotated": rng.random(len(frames)) > 0.2,
            "valence": rng.uniform(-1, 1, len(frames)),
            "arousal": rng.uniform(-1, 1, len(frames)),
        }
    )
    return attach_labels(sequence, labels, "va")


@pytest.mark.parametrize("resident", [True, False])
def test_gathered_windows_equal_the_per_window_copies(tables, resident):
    paths, _, _ = tables
    store = FeatureStore.open([m for m, _ in paths], memory_limit_bytes=10**9 if resident else 0)
    assert (store.resident is not None) == resident
    rng = np.random.default_rng(1)
    sequences = [labelled(s, rng) for s in read_feature_matrices([r for _, r in paths], store).values()]
    for sequence in sequences:  # the per-sequence arrays the trainer used to hold
        sequence.features = [store.read(k, sequence.offset, sequence.offset + len(sequence.frames)) for k in range(2)]
    windows = make_windows(sequences, 16, 5)
    short = make_windows(sequences[:1], 64, 64)  # one padded window longer than the video
    clips = [(sequences[1], np.array([0, 3, 7, 8, 9, 29])), (sequences[2], np.array([2]))]
    for items, window in ((windows[:7], 16), (windows[7:], 16), (short, 64), (clips, 6)):
        gathered = collate(items, window, True)
        features, padding, targets, mask = reference_collate(items, window, True)
        for got, expected in zip(gathered["features"], features, strict=True):
            assert torch.equal(got, torch.from_numpy(expected))
        assert torch.equal(gathered["padding"], torch.from_numpy(padding))
        assert torch.equal(gathered["targets"], torch.from_numpy(targets))
        assert torch.equal(gathered["mask"], torch.from_numpy(mask))
        assert padding.any() and not padding.all()  # faceless frames and padding are both exercised


def test_contiguous_runs():
    assert contiguous_runs(np.array([4, 5, 6, -1, -1])) == [(4, 7, 0)]
    assert contiguous_runs(np.array([9, 3, 4, 8, -1])) == [(9, 10, 0), (3, 5, 1), (8, 9, 3)]
    assert contiguous_runs(np.array([-1, -1])) == []


def test_statistics_equal_numpy_mean_and_std(tmp_path):
    rng = np.random.default_rng(2)
    data = (rng.normal(size=(30000, 9)) * 3 + 1).astype(np.float32)
    matrix = tmp_path / "m.npy"
    np.save(matrix, data)
    store = FeatureStore.open([matrix], memory_limit_bytes=0)
    selected = rng.random(30000) > 0.3
    ranges = [(0, selected[:12345]), (12345, selected[12345:])]
    mean, std = store.statistics(0, ranges)
    visible = np.concatenate([data[:12345][selected[:12345]], data[12345:][selected[12345:]]])
    assert np.array_equal(mean, visible.mean(0)) and np.array_equal(std, visible.std(0))


def test_training_gives_the_same_model_resident_on_disk_and_from_arrays(tables):
    paths, _, _ = tables
    rng = np.random.default_rng(3)
    results = []
    for limit in (10**9, 0, None):
        store = FeatureStore.open([m for m, _ in paths], memory_limit_bytes=limit or 0)
        sequences = list(read_feature_matrices([r for _, r in paths], store).values())
        rng = np.random.default_rng(3)
        sequences = [labelled(s, rng) for s in sequences]
        if limit is None:  # hand-made sequences: arrays of their own, no store
            for s in sequences:
                s.features = [store.read(k, s.offset, s.offset + len(s.frames)) for k in range(2)]
                s.store, s.offset = None, 0
        model, history = train("va", {"train": sequences[:2], "validation": sequences[2:]}, MODEL, RECIPE)
        results.append((model.state_dict(), history))
    for state, history in results[1:]:
        assert history == results[0][1]
        for key, value in state.items():
            assert torch.equal(value, results[0][0][key]), key


def test_build_sequences_from_matrices(tables):
    paths, _, _ = tables
    store = FeatureStore.open([m for m, _ in paths], memory_limit_bytes=0)
    labels = pl.DataFrame(
        {
            "subject": ["v0"] * 40,
            "frame": list(range(1, 41)),
            "annotated": [True] * 40,
            "valence": [0.1] * 40,
            "arousal": [0.2] * 40,
        }
    )
    splits = pl.DataFrame({"task": ["va", "va"], "split": ["train", "test"], "subject": ["v0", "v1_left"]})
    sequences = build_sequences([r for _, r in paths], store, labels, splits, "va")
    assert [s.subject for s in sequences["train"]] == ["v0"] and [s.subject for s in sequences["test"]] == ["v1_left"]
    # A frame counts where every table has its input.
    assert sequences["train"][0].face_found.tolist() == [f % 4 != 0 for f in range(1, 41)]


def test_matrices_of_other_rows_are_rejected(tmp_path, tables):
    paths, _, _ = tables
    rng = np.random.default_rng(4)
    other = tmp_path / "other.parquet"
    write_table(other, [("v0", f) for f in range(1, 41)] + [("v1_left", f) for f in range(1, 30)], 4, rng)
    write_feature_matrix(other, tmp_path / "other.npy", tmp_path / "other.rows.parquet")
    with pytest.raises(ConfigError, match="differ in rows"):
        FeatureStore.open([paths[0][0], tmp_path / "other.npy"], 0)


def test_a_truncated_matrix_is_named(tables):
    paths, _, _ = tables
    matrix = paths[0][0]
    data = matrix.read_bytes()
    matrix.write_bytes(data[: len(data) - 40])
    store = FeatureStore.open([matrix], memory_limit_bytes=0)
    with pytest.raises(ConfigError, match=str(matrix)):
        store.read(0, 90, 100)


def test_duplicate_frames_are_rejected(tmp_path):
    table = tmp_path / "duplicated.parquet"
    write_table(table, [("v0", 1), ("v0", 2), ("v0", 2)], 3, np.random.default_rng(5))
    with pytest.raises(ConfigError, match="same frame twice"):
        write_feature_matrix(table, tmp_path / "m.npy", tmp_path / "m.rows.parquet")


MEMORY_PROBE = r"""
import json, sys
import numpy as np
from abawflow.training.feature_matrix import FeatureStore
def peak_kib():
    return int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # reset the peak to what is resident now (imports done)
before = peak_kib()
store = FeatureStore.open([sys.argv[1]], memory_limit_bytes=int(sys.argv[2]))
rng = np.random.default_rng(0)
total = 0.0
for _ in range(400):  # random windows over the whole matrix
    starts = rng.integers(0, store.length - 64, 16)
    rows = starts[:, None] + np.arange(64)
    total += float(store.gather(rows)[0].sum())
print(json.dumps({"growth_mb": (peak_kib() - before) / 1024,
                  "resident": store.resident is not None}))
"""


def test_reading_from_disk_keeps_memory_bounded(tmp_path):
    """A matrix of 256 MB read window by window with a 16 MB limit: the process grows by about one batch,
    not by the matrix (a memory map would map the pages it touches into the process)."""
    rows, width = 131072, 512
    matrix = tmp_path / "large.npy"
    data = np.lib.format.open_memmap(matrix, mode="w+", dtype=np.float32, shape=(rows, width))
    for start in range(0, rows, 16384):
        data[start : start + 16384] = np.float32(start)
    data.flush()
    del data
    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(matrix), str(16 * 10**6)], capture_output=True, text=True, check=True
    )
    result = json.loads(probe.stdout)
    assert result["resident"] is False
    assert result["growth_mb"] < 40, result

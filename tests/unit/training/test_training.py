import numpy as np
import pytest
import torch

from abawflow.training.regimes import interpolate_faceless, window_starts
from abawflow.training.sequences import Sequence, attach_labels
from abawflow.training.temporal import predict_sequence, shuffle_labels, train
from models.losses import ccc_loss, create_loss
from models.temporal import create_temporal_model

MODEL = {
    "fusion": {"name": "affine_concat", "width": 16, "dropout": 0.0},
    "encoder": {"name": "transformer", "layers": 1, "heads": 2, "feedforward": 32, "dropout": 0.0},
}
RECIPE = {
    "seed": 3,
    "window": 16,
    "stride": 8,
    "epochs": 3,
    "batch_size": 4,
    "learning_rate": 3e-3,
    "weight_decay": 0.0,
    "shuffle_labels": False,
}


def test_window_starts_cover_every_frame():
    for length in (1, 15, 16, 17, 40, 100):
        starts = window_starts(length, 16, 8)
        covered = np.zeros(length, bool)
        for start in starts:
            covered[start : start + 16] = True
        assert covered.all() and starts[-1] + 16 >= length


def test_interpolation_over_faceless_frames():
    values = np.array([[0.0], [9.0], [9.0], [3.0], [9.0]])
    found = np.array([True, False, False, True, False])
    assert interpolate_faceless(values, found)[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 3.0]


def test_ccc_loss_values():
    target = torch.tensor([[0.2], [0.4], [-0.6]])  # zero mean, so CCC(-x, x) = -1
    assert ccc_loss(target, target).item() == pytest.approx(0.0, abs=1e-6)
    assert ccc_loss(-target, target).item() == pytest.approx(2.0, abs=1e-5)
    mask = torch.tensor([True, True, True])
    loss = create_loss("ccc_mse", mse_weight=0.0)(torch.atanh(target), target, mask)
    assert loss.item() == pytest.approx(0.0, abs=1e-5)


def test_masked_frames_do_not_change_the_loss():
    outputs = torch.randn(6, 8)
    targets = torch.tensor([[1.0], [2.0], [3.0], [0.0], [5.0], [7.0]])
    mask = torch.tensor([True, True, False, True, False, True])
    loss = create_loss("cross_entropy")
    changed = outputs.clone()
    changed[~mask] = 100.0
    assert loss(outputs, targets, mask).item() == pytest.approx(loss(changed, targets, mask).item())


def test_temporal_model_shapes_masking_and_gradients():
    model = create_temporal_model([10, 4], 12, MODEL["fusion"], MODEL["encoder"])
    features = [torch.randn(2, 16, 10, requires_grad=True), torch.randn(2, 16, 4)]
    padding = torch.zeros(2, 16, dtype=torch.bool)
    padding[0, 10:] = True
    outputs = model(features, padding)
    assert outputs.shape == (2, 16, 12)
    outputs[:, :10].sum().backward()
    assert features[0].grad is not None and features[0].grad[0, :10].abs().sum() > 0
    # Padded (faceless) frames are not attended to: changing them leaves the visible frames' outputs alone.
    model.eval()
    with torch.no_grad():
        before = model(features, padding)[0, :10]
        features[0].data[0, 10:] += 50
        after = model(features, padding)[0, :10]
    assert torch.allclose(before, after, atol=1e-5)
    # A window with no face at all still gives finite outputs.
    with torch.no_grad():
        assert torch.isfinite(model(features, torch.ones(2, 16, dtype=torch.bool))).all()


def make_sequences(rng, count, length, task="au"):
    sequences = []
    for k in range(count):
        signal = rng.random((length, 12)) < 0.4
        features = rng.normal(size=(length, 6)).astype(np.float32)
        features[:, :3] += 2.0 * signal[:, :3]  # three AUs are visible in the features
        sequence = Sequence(f"s{k}", np.arange(1, length + 1), rng.random(length) > 0.1, [features])
        sequence.targets = signal.astype(np.float32)
        sequence.annotated = np.ones((length, 1), bool)
        sequences.append(sequence)
    return sequences


def test_training_lowers_the_loss_and_is_deterministic():
    rng = np.random.default_rng(0)
    sequences = {"train": make_sequences(rng, 4, 60), "validation": make_sequences(rng, 1, 40)}
    recipe = dict(RECIPE, epochs=6)
    model, history = train("au", sequences, MODEL, recipe)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    _, again = train("au", sequences, MODEL, recipe)
    assert [row["train_loss"] for row in history] == [row["train_loss"] for row in again]
    values = predict_sequence("au", model, sequences["validation"][0], 16, 8)
    assert values.shape == (40, 12) and ((values >= 0) & (values <= 1)).all()


def test_training_resumed_from_its_saved_state_equals_an_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(0)
    sequences = {"train": make_sequences(rng, 4, 60), "validation": make_sequences(rng, 1, 40)}
    model_config = {**MODEL, "encoder": {**MODEL["encoder"], "dropout": 0.3}}  # dropout draws random numbers
    uninterrupted, history = train("au", sequences, model_config, dict(RECIPE, epochs=5))
    state = tmp_path / "training_state.pt"
    # A job killed after epoch 2 has left the state of epoch 2 behind; the rerun goes on from it.
    train("au", sequences, model_config, dict(RECIPE, epochs=2), state_path=state, resume_key="same inputs")
    assert torch.load(state, weights_only=True)["epoch"] == 2
    resumed, resumed_history = train(
        "au", sequences, model_config, dict(RECIPE, epochs=5), state_path=state, resume_key="same inputs"
    )
    assert resumed_history == history
    for name, tensor in uninterrupted.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name
    # A state saved for other inputs or settings is not resumed.
    _, fresh = train("au", sequences, model_config, dict(RECIPE, epochs=1), state_path=state, resume_key="other")
    assert len(fresh) == 1 and fresh[0] == history[0]


def test_shuffle_labels_keeps_the_label_multiset():
    rng = np.random.default_rng(1)
    sequences = make_sequences(rng, 3, 30)
    before = np.concatenate([s.targets for s in sequences])
    shuffle_labels(sequences, seed=0)
    after = np.concatenate([s.targets for s in sequences])
    assert not np.array_equal(before, after)
    assert np.array_equal(np.sort(before, axis=0), np.sort(after, axis=0))


def label_rows(count):
    import polars as pl

    return pl.DataFrame(
        {
            "frame": np.arange(1, count + 1),
            "annotated": np.ones(count, bool),
            "valence": np.linspace(-1, 1, count).astype(np.float32),
            "arousal": np.zeros(count, np.float32),
        }
    )


def test_line_count_policy_never_shifts_labels(caplog):
    sequence = Sequence("v", np.arange(1, 11), np.ones(10, bool), [np.zeros((10, 2), np.float32)])
    attach_labels(sequence, label_rows(7), "va")  # annotation 3 lines short
    assert sequence.annotated[:, 0].tolist() == [True] * 7 + [False] * 3
    assert sequence.targets[:7, 0] == pytest.approx(np.linspace(-1, 1, 7))
    assert "frames 8..10 are treated as unannotated" in caplog.text
    sequence = Sequence("w", np.arange(1, 6), np.ones(5, bool), [np.zeros((5, 2), np.float32)])
    attach_labels(sequence, label_rows(8), "va")  # annotation 3 lines long
    assert sequence.targets[:, 0] == pytest.approx(np.linspace(-1, 1, 8)[:5])
    assert "lines for frames 6..8 have no image and are ignored" in caplog.text


def test_training_without_usable_frames_is_a_clear_error():
    from abawflow.core.errors import ConfigError

    rng = np.random.default_rng(0)
    sequences = make_sequences(rng, 2, 20)
    for sequence in sequences:
        sequence.face_found[:] = False
    with pytest.raises(ConfigError, match="AU: no annotated training frame with a detected face"):
        train("au", {"train": sequences, "validation": []}, MODEL, RECIPE)
    with pytest.raises(ConfigError, match=r"\(0 training videos\)"):
        train("au", {"train": [], "validation": []}, MODEL, RECIPE)


def test_recurrent_training_carries_the_state_over_consecutive_segments():
    rng = np.random.default_rng(0)
    sequences = {"train": make_sequences(rng, 4, 60), "validation": make_sequences(rng, 1, 50)}
    fusion = {**MODEL["fusion"], "positional_encoding": False}  # positions would restart in every segment
    model_config = {"fusion": fusion, "encoder": {"name": "gru", "hidden": 16}}
    model, history = train("au", sequences, model_config, dict(RECIPE, epochs=8))
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    _, again = train("au", sequences, model_config, dict(RECIPE, epochs=8))
    assert again == history
    # Segments of 16 frames with the state handed on give what one pass over the whole video gives.
    validation = sequences["validation"][0]
    segmented = predict_sequence("au", model, validation, 16, 16)
    whole = predict_sequence("au", model, validation, 1000, 1000)
    assert segmented.shape == (50, 12)
    np.testing.assert_allclose(segmented, whole, atol=1e-5)


def test_a_faceless_video_gets_the_training_prior_of_each_task():
    import polars as pl

    from abawflow.predict.prediction_tables import training_priors
    from abawflow.tasks.specs import ACTION_UNITS

    def table(task, rows):
        columns = {"va": ["valence", "arousal"], "expr": ["expression"], "au": list(ACTION_UNITS)}[task]
        frame = pl.DataFrame(rows, schema=["subject", "frame", "annotated", *columns], orient="row")
        return frame.with_columns(pl.col("frame").cast(pl.Int32))

    labels = {
        "va": table(
            "va", [("a", 1, True, 0.5, 0.1), ("a", 2, False, -5, -5), ("b", 1, True, -0.1, 0.3), ("v", 1, True, 1, 1)]
        ),
        "expr": table(
            "expr", [("a", 1, True, 4), ("a", 2, True, 4), ("b", 1, True, 0), ("b", 2, False, -1), ("v", 1, True, 7)]
        ),
        "au": table("au", [("a", 1, True, *[1] * 6, *[0] * 6), ("b", 1, True, *[0] * 12), ("v", 1, True, *[1] * 12)]),
    }
    splits = pl.DataFrame(
        [
            (task, subject, split)
            for task in labels
            for subject, split in (("a", "train"), ("b", "train"), ("v", "validation"))
        ],
        schema=["task", "subject", "split"],
        orient="row",
    )
    priors = training_priors(["va", "expr", "au"], labels, splits)
    assert np.allclose(priors["va"], [0.2, 0.2])  # annotated training frames only
    assert np.allclose(priors["expr"], np.eye(8)[[4, 4, 0]].mean(0)) and priors["expr"].sum() == pytest.approx(1)
    assert np.allclose(priors["au"], [0.5] * 6 + [0.0] * 6)


def test_predictions_average_the_runs_and_a_faceless_video_gets_the_prior(caplog):
    from abawflow.predict.prediction_tables import predict_table

    rng = np.random.default_rng(0)
    sequences = {"train": make_sequences(rng, 3, 40), "validation": make_sequences(rng, 1, 30)}
    runs = []
    for seed in (0, 1):
        model, _ = train("au", sequences, MODEL, dict(RECIPE, epochs=2, seed=seed))
        runs.append(
            {
                "tasks": ["au"],
                "input_widths": [6],
                "model": MODEL,
                "state_dict": {k: v.clone() for k, v in model.state_dict().items()},
            }
        )
    grey = make_sequences(rng, 1, 20)[0]
    grey.subject, grey.face_found = "grey", np.zeros(20, bool)
    split = {"validation": sequences["validation"], "test": [grey]}
    prior = np.linspace(0.1, 0.9, 12)
    table = predict_table(["au"], iter(runs), split, {"window": 16, "stride": 8}, {"au": prior})
    columns = [c for c in table.columns if c.startswith("probability_")]
    seen = table.filter(table["subject"] == "s0").select(columns).to_numpy()
    each = []
    for run in runs:
        model.load_state_dict(run["state_dict"])
        each.append(predict_sequence("au", model, sequences["validation"][0], 16, 8))
    assert np.allclose(seen, (each[0] + each[1]) / 2, atol=1e-6)
    assert np.allclose(table.filter(table["subject"] == "grey").select(columns).to_numpy(), prior)
    assert "test video grey: no face in any of its 20 frames; predicting the training prior" in caplog.text


@pytest.mark.parametrize(
    "encoder, clip_steps",
    [
        ({"name": "transformer", "layers": 1, "heads": 2, "feedforward": 32, "dropout": 0.0}, 0),
        ({"name": "gru", "hidden": 16}, 0),
        ({"name": "transformer", "layers": 1, "heads": 2, "feedforward": 32, "dropout": 0.0}, 8),
    ],
    ids=["windows", "recurrent", "clips"],
)
def test_videos_predicted_together_equal_each_predicted_alone(encoder, clip_steps):
    """Windows, recurrent segments and clips of several videos share forward passes (more than one batch
    of them here); each video's outputs are those it gets alone."""
    from abawflow.training import regimes
    from abawflow.training.temporal import predict_sequences

    rng = np.random.default_rng(4)
    sequences = [s for length in (50, 7, 120, 33) for s in make_sequences(rng, 1, length)]
    model = create_temporal_model([6], 12, {**MODEL["fusion"], "positional_encoding": False}, encoder).eval()
    alone = [predict_sequence("au", model, s, 16, 8, clip_steps=clip_steps) for s in sequences]
    original = regimes.PREDICTION_BATCH
    regimes.PREDICTION_BATCH = 3
    try:
        together = predict_sequences("au", model, sequences, 16, 8, clip_steps=clip_steps)
    finally:
        regimes.PREDICTION_BATCH = original
    for one, batched, sequence in zip(alone, together, sequences, strict=True):
        assert batched.shape == (len(sequence.frames), 12)
        np.testing.assert_allclose(batched, one, atol=1e-6)

"""The linear probe of frozen features: a ridge regression that reads what the features hold."""

import numpy as np
import polars as pl
import pytest
import torch

from abawflow.tasks.specs import get_task
from abawflow.training.linear_probe import PENALTIES, frozen_features, linear_probe, probe_folds, ridge_fit

SPEC = {"input_size": 16, "mean": [0.5] * 3, "std": [0.5] * 3}


def coloured_set(rng, count):
    """Crops whose red and green levels are their valence and arousal."""
    values = rng.uniform(-1, 1, (count, 2))
    crops = []
    for valence, arousal in values:
        crop = rng.integers(0, 40, (16, 16, 3), dtype=np.uint8)
        crop[..., 0] += np.uint8(100 + 100 * valence)
        crop[..., 1] += np.uint8(100 + 100 * arousal)
        crops.append(crop)
    return crops, pl.DataFrame({"valence": values[:, 0], "arousal": values[:, 1]})


class Noise(torch.nn.Module):
    def forward(self, images):
        return torch.randn(len(images), 3, generator=torch.Generator().manual_seed(len(images)))


def test_the_probe_scores_features_that_hold_the_labels_far_above_features_that_do_not():
    rng = np.random.default_rng(0)
    sets = {"train": coloured_set(rng, 200), "validation": coloured_set(rng, 100)}
    mean_colour = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    (informative, _), (noise, _) = linear_probe(mean_colour, SPEC, sets, "va"), linear_probe(Noise(), SPEC, sets, "va")
    assert informative > 0.9 and abs(noise) < 0.2  # CCC
    assert linear_probe(mean_colour, SPEC, sets, "va")[0] == informative  # closed form: the same score again


def test_the_penalty_is_chosen_on_held_out_training_videos_and_tames_wide_features():
    """Two informative features beside 400 random projections of the crops' noise, 120 training frames
    labelled with noise (annotators disagree): the
    smallest penalty fits the noise; the one chosen across folds of the training videos is larger and
    scores better on validation."""
    projection = torch.from_numpy(np.random.default_rng(3).normal(size=(3 * 16 * 16, 400))).float()

    class Wide(torch.nn.Module):
        def forward(self, images):
            return torch.cat([images.mean(dim=(2, 3))[:, :2], images.flatten(1) @ projection], dim=1)

    rng = np.random.default_rng(2)
    train, validation = coloured_set(rng, 120), coloured_set(rng, 200)
    noisy = pl.DataFrame(train[1].to_numpy() + rng.normal(0, 0.5, (120, 2)), schema=["valence", "arousal"])
    train = (train[0], noisy.with_columns(subject=pl.Series([f"video{i % 6}" for i in range(120)])))
    folds = probe_folds(train[1], 120)
    assert sorted(set(folds)) == [0, 1, 2]
    assert all(len(set(folds[(train[1]["subject"] == f"video{i}").to_numpy()])) == 1 for i in range(6))
    score, penalty = linear_probe(Wide(), SPEC, {"train": train, "validation": validation}, "va")
    assert penalty > PENALTIES[0]

    def features(crops):
        return frozen_features(Wide(), crops, SPEC, "cpu")

    weights, offset, mean, deviation = ridge_fit(
        features(train[0]), train[1].select("valence", "arousal").to_numpy(), PENALTIES[0]
    )
    outputs = ((features(validation[0]) - mean) / deviation) @ weights + offset
    smallest = get_task("va").score_outputs(validation[1].to_numpy(), outputs)["score"]
    assert score > smallest + 0.05


def test_ridge_recovers_a_linear_map_and_the_probe_needs_frames():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(500, 4))
    targets = features @ np.array([[1.0], [-2.0], [0.5], [0.0]]) + 3
    weights, offset, mean, deviation = ridge_fit(features, targets, penalty=1e-6)
    predicted = ((features - mean) / deviation) @ weights + offset
    np.testing.assert_allclose(predicted, targets, atol=1e-3)
    wide = rng.normal(size=(30, 50))  # more features than frames: the frames' system, the same weights
    weights = ridge_fit(wide, targets[:30], penalty=0.1)[0]
    x = (wide - wide.mean(0)) / (wide.std(0) + 1e-6)
    primal = np.linalg.solve(x.T @ x + 0.1 * 30 * np.eye(50), x.T @ (targets[:30] - targets[:30].mean(0)))
    np.testing.assert_allclose(weights, primal, atol=1e-8)
    with pytest.raises(ValueError, match="no annotated validation frames"):
        linear_probe(Noise(), SPEC, {"train": coloured_set(rng, 10), "validation": ([], None)}, "va")

"""The linear probe of frozen features: a ridge regression that reads what the features hold."""

import numpy as np
import polars as pl
import pytest
import torch

from abawflow.training.linear_probe import linear_probe, ridge_fit

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
    informative, noise = linear_probe(mean_colour, SPEC, sets, "va"), linear_probe(Noise(), SPEC, sets, "va")
    assert informative > 0.9 and abs(noise) < 0.2  # CCC
    assert linear_probe(mean_colour, SPEC, sets, "va") == informative  # closed form: the same score again


def test_ridge_recovers_a_linear_map_and_the_probe_needs_frames():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(500, 4))
    targets = features @ np.array([[1.0], [-2.0], [0.5], [0.0]]) + 3
    weights, offset, mean, deviation = ridge_fit(features, targets, penalty=1e-6)
    predicted = ((features - mean) / deviation) @ weights + offset
    np.testing.assert_allclose(predicted, targets, atol=1e-3)
    with pytest.raises(ValueError, match="no annotated validation frames"):
        linear_probe(Noise(), SPEC, {"train": coloured_set(rng, 10), "validation": ([], None)}, "va")

"""Registered temporal components and losses: shapes, masking, gradients, state carry, values on hand-made inputs."""

import pytest
import torch

from models.losses import create_loss
from models.registry import REGISTRIES, create
from models.temporal import create_temporal_model

ENCODERS = {
    "transformer": {"layers": 1, "heads": 2, "feedforward": 32, "dropout": 0.0},
    "gru": {"hidden": 12},
    "lstm": {"hidden": 12, "layers": 2},
    "tcn_transformer": {"blocks": 2, "layers": 1, "heads": 2, "feedforward": 32, "dropout": 0.0},
    "smooth": {"window": 4},
    "attention_concat": {"layers": 1, "heads": 2, "dropout": 0.0},
}
FUSIONS = {"affine_concat": {"width": 8, "dropout": 0.0}, "conv1d": {"width": 8, "dropout": 0.0}}


def test_every_registered_component_is_covered():
    assert set(REGISTRIES["encoder"]) == set(ENCODERS)
    assert set(REGISTRIES["fusion"]) == set(FUSIONS)


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("encoder", ENCODERS)
def test_shapes_masking_and_gradients(encoder, fusion):
    torch.manual_seed(0)
    model = create_temporal_model(
        [10, 4], 5, {"name": fusion, **FUSIONS[fusion]}, {"name": encoder, **ENCODERS[encoder]}
    )
    model.eval()
    features = [torch.randn(2, 24, 10, requires_grad=True), torch.randn(2, 24, 4)]
    padding = torch.zeros(2, 24, dtype=torch.bool)
    padding[0, 18:] = True  # a short window
    padding[1, 5:8] = True  # frames without a face
    outputs = model(features, padding)
    assert outputs.shape == (2, 24, 5)
    outputs[:, :18].sum().backward()
    assert features[0].grad[0, :18].abs().sum() > 0
    visible = ~padding
    with torch.no_grad():
        before = model(features, padding)[visible]
        features[0].data[padding] += 100.0  # what lies under the mask must not matter (causal or not)
        after = model(features, padding)[visible]
        assert torch.allclose(before, after, atol=1e-4)
        assert torch.isfinite(model(features, torch.ones(2, 24, dtype=torch.bool))).all()


@pytest.mark.parametrize("name", ["gru", "lstm"])
def test_recurrent_state_carries_across_consecutive_segments(name):
    torch.manual_seed(0)
    encoder = create("encoder", name, input_width=6, hidden=8)
    x = torch.randn(1, 30, 6)
    mask = torch.zeros(1, 30, dtype=torch.bool)
    whole, _ = encoder.forward_with_state(x, mask)
    first, state = encoder.forward_with_state(x[:, :12], mask[:, :12])
    second, _ = encoder.forward_with_state(x[:, 12:], mask[:, 12:], state)
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-6)
    # Without the carried state the second segment starts from zeros and differs.
    fresh, _ = encoder.forward_with_state(x[:, 12:], mask[:, 12:])
    assert not torch.allclose(fresh, second, atol=1e-3)


def test_smooth_predicting_adds_the_window_mean_of_visible_frames():
    encoder = create("encoder", "smooth", input_width=1, window=2)  # frames i-1, i, i+1
    x = torch.tensor([[[1.0], [2.0], [3.0], [40.0]]])
    padding = torch.tensor([[False, False, False, True]])
    out = encoder(x, padding)[0, :, 0]
    # frame 0: 1 + mean(1, 2); frame 1: 2 + mean(1, 2, 3); frame 2: 3 + mean(2, 3) (frame 3 has no face)
    assert out[:3].tolist() == pytest.approx([2.5, 4.0, 5.5])


def test_focal_loss_values():
    outputs = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    targets = torch.tensor([[0.0], [2.0]])
    mask = torch.tensor([True, True])
    cross_entropy = create_loss("cross_entropy")(outputs, targets, mask)
    assert create_loss("focal", gamma=0.0)(outputs, targets, mask).item() == pytest.approx(cross_entropy.item())
    p = torch.softmax(outputs, -1)[[0, 1], [0, 2]]
    expected = (-((1 - p) ** 2) * p.log()).mean()
    assert create_loss("focal", gamma=2.0)(outputs, targets, mask).item() == pytest.approx(expected.item())
    with pytest.raises(ValueError, match="gamma"):
        create_loss("focal", gamma=7)


def test_weighted_asymmetric_loss_values_and_weights_from_occurrence():
    loss = create_loss("weighted_asymmetric").fit(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]))
    # Occurrence rates 0.5 and 0.25 -> inverse 2 and 4 -> normalised to mean 1.
    assert loss.weights.tolist() == pytest.approx([2 / 3, 4 / 3])
    logit = torch.tensor([[0.0, 0.0]])  # p = 0.5 for both AUs
    target = torch.tensor([[1.0, 0.0]])
    value = loss(logit, target, torch.tensor([True]))
    # AU1 positive: -log 0.5; AU2 negative: -0.5 log 0.5 (the asymmetric term); weighted, averaged over 2 AUs.
    expected = (2 / 3 * -torch.log(torch.tensor(0.5)) + 4 / 3 * -0.5 * torch.log(torch.tensor(0.5))) / 2
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)


def test_regression_losses():
    target = torch.tensor([[0.2, -0.1], [0.4, 0.3], [-0.6, 0.1]])
    mask = torch.ones(3, dtype=torch.bool)
    assert create_loss("mse")(torch.atanh(target), target, mask).item() == pytest.approx(0.0, abs=1e-6)
    assert create_loss("ccc")(torch.atanh(target), target, mask).item() == pytest.approx(0.0, abs=1e-5)

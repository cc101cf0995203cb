"""Multi-task frameworks (paper 001), the expression cascade (paper 004) and the multi-task loss."""

import math

import numpy as np
import pytest
import torch

from abawflow.tasks.specs import TaskLayout
from abawflow.training.sequences import Sequence
from abawflow.training.temporal import MultiTaskLoss, predict_sequence, train
from models.losses import create_loss
from models.registry import REGISTRIES
from models.temporal import (
    ExpressionCascadeHead,
    ExpressionCoarseHead,
    ExpressionNegativeHead,
    create_temporal_model,
)

FUSION = {"name": "affine_concat", "width": 32, "dropout": 0.0}
TRANSFORMER = {"name": "transformer", "layers": 1, "heads": 2, "feedforward": 32, "dropout": 0.0}
GRU = {"name": "gru", "hidden": 8}
HEAD_SIZES = {"va": 2, "expr": 8, "au": 12}
FRAMEWORKS = {
    "basic": {"name": "basic"},
    "share_bottom": {"name": "share_bottom"},
    "feedback": {"name": "feedback", "sources": {"expr": "au"}},
}


def test_every_registered_framework_and_head_is_covered():
    # audio_visual, a single-task framework of video-level outputs, is covered in tests/unit/challenges/test_eri.py.
    assert set(REGISTRIES["framework"]) == {"single", "audio_visual", *FRAMEWORKS}
    assert set(REGISTRIES["head"]) == {"linear", "expression_cascade", "expression_coarse", "expression_negative"}


@pytest.mark.parametrize("encoder", [TRANSFORMER, GRU], ids=["transformer", "gru"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_framework_shapes_and_gradient_flow(framework, encoder):
    torch.manual_seed(0)
    model = create_temporal_model([6, 3], HEAD_SIZES, FUSION, encoder, FRAMEWORKS[framework])
    features = [torch.randn(2, 12, 6, requires_grad=True), torch.randn(2, 12, 3)]
    padding = torch.zeros(2, 12, dtype=torch.bool)
    outputs = model(features, padding)
    assert outputs.shape == (2, 12, 22)
    # Every task's loss reaches the shared fusion.
    layout = TaskLayout(["va", "expr", "au"])
    for task in layout.tasks:
        model.zero_grad()
        features[0].grad = None
        model(features, padding)[..., layout.outputs[task]].sum().backward()
        assert features[0].grad.abs().sum() > 0, task
    assert model.carries_state == (encoder is GRU)
    if framework != "basic":
        assert set(model.task_encoders) == set(HEAD_SIZES)


def test_feedback_detaches_the_source_states():
    torch.manual_seed(0)
    model = create_temporal_model([6], HEAD_SIZES, FUSION, TRANSFORMER, FRAMEWORKS["feedback"])
    features = [torch.randn(2, 12, 6)]
    padding = torch.zeros(2, 12, dtype=torch.bool)
    layout = TaskLayout(["va", "expr", "au"])
    model(features, padding)[..., layout.outputs["expr"]].sum().backward()
    # The target's (EXPR) loss trains the target encoder and the shared bottom, never the source (AU) encoder.
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.task_encoders["au"].parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.task_encoders["expr"].parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    # ... while the source's states do reach the target's input: changing the AU encoder changes EXPR outputs.
    with torch.no_grad():
        before = model(features, padding)[..., layout.outputs["expr"]].clone()
        for p in model.task_encoders["au"].parameters():
            p.add_(0.5)
        after = model(features, padding)[..., layout.outputs["expr"]]
    assert not torch.allclose(before, after)


def test_feedback_rejects_unknown_or_chained_tasks():
    with pytest.raises(ValueError, match="two different tasks"):
        create_temporal_model(
            [6], {"va": 2, "au": 12}, FUSION, TRANSFORMER, {"name": "feedback", "sources": {"expr": "au"}}
        )
    with pytest.raises(ValueError, match="chains"):
        create_temporal_model(
            [6], HEAD_SIZES, FUSION, TRANSFORMER, {"name": "feedback", "sources": {"expr": "au", "au": "va"}}
        )


def test_multitask_loss_is_the_weighted_sum_of_masked_task_losses():
    layout = TaskLayout(["va", "au"])
    torch.manual_seed(0)
    outputs, targets = torch.randn(3, 14), torch.cat([torch.rand(3, 2) - 0.5, (torch.rand(3, 12) > 0.5).float()], 1)
    mask = torch.tensor([[True, False], [True, True], [False, True]])
    va, au = create_loss("ccc_mse"), create_loss("bce_with_logits")
    loss = MultiTaskLoss(layout, {"va": va, "au": au}, {"va": 2.0, "au": 0.5})
    expected = 2.0 * va(outputs[:, :2], targets[:, :2], mask[:, 0]) + 0.5 * au(
        outputs[:, 2:], targets[:, 2:], mask[:, 1]
    )
    assert loss(outputs, targets, mask).item() == pytest.approx(expected.item())
    # A task without annotated frames adds nothing (and does not make the loss NaN).
    only_va = mask.clone()
    only_va[:, 1] = False
    assert loss(outputs, targets, only_va).item() == pytest.approx(
        2.0 * va(outputs[:, :2], targets[:, :2], mask[:, 0]).item()
    )


def cascade_with(coarse, fine, routing="hard"):
    head = ExpressionCascadeHead(4, 8, routing)
    with torch.no_grad():
        head.coarse.weight.zero_(), head.fine.weight.zero_()
        head.coarse.bias.copy_(torch.tensor(coarse)), head.fine.bias.copy_(torch.tensor(fine))
    return head


def test_cascade_routing():
    x = torch.zeros(1, 4)
    # Coarse says Negative (index 1 of neutral, negative, happiness, surprise, other): the fine net decides.
    head = cascade_with([1.0, 2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0]).eval()
    probabilities = torch.softmax(head(x), -1)[0]
    assert probabilities.argmax().item() == 3  # fear, the third negative class
    assert probabilities[[0, 4, 6, 7]].sum() < 1e-3
    # Coarse says Happiness: its coarse distribution is returned, whatever the fine net says.
    head = cascade_with([1.0, 0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 9.0, 0.0]).eval()
    probabilities = torch.softmax(head(x), -1)[0]
    assert probabilities.argmax().item() == 4
    assert probabilities[[1, 2, 3, 5]].sum() < 1e-3
    # Soft routing multiplies: p(fear) = p(negative) * p(fear | negative).
    head = cascade_with([1.0, 2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0], routing="soft").eval()
    coarse = torch.softmax(torch.tensor([1.0, 2.0, 0.0, 0.0, 0.0]), 0)
    fine = torch.softmax(torch.tensor([0.0, 0.0, 3.0, 0.0]), 0)
    probabilities = torch.softmax(head(x), -1)[0]
    assert probabilities[3].item() == pytest.approx((coarse[1] * fine[2]).item(), rel=1e-5)
    assert probabilities.sum().item() == pytest.approx(1.0)


def test_cascade_cross_entropy_is_coarse_plus_fine_on_negative_frames():
    torch.manual_seed(0)
    head = ExpressionCascadeHead(4, 8).train()
    x = torch.randn(6, 4)
    classes = torch.tensor([0, 1, 2, 4, 5, 7])
    loss = create_loss("cross_entropy")(head(x), classes[:, None].float(), torch.ones(6, dtype=torch.bool))
    coarse_targets = torch.tensor([0, 1, 1, 2, 1, 4])
    coarse = torch.nn.functional.cross_entropy(head.coarse(x), coarse_targets, reduction="sum")
    negative = torch.tensor([False, True, True, False, True, False])
    fine = torch.nn.functional.cross_entropy(head.fine(x)[negative], torch.tensor([0, 1, 3]), reduction="sum")
    assert loss.item() == pytest.approx(((coarse + fine) / 6).item(), rel=1e-5)
    with pytest.raises(ValueError, match="EXPR head"):
        ExpressionCascadeHead(4, 12)


def test_the_two_networks_heads_train_the_coarse_and_the_negative_cross_entropy():
    torch.manual_seed(0)
    x = torch.randn(6, 4)
    classes = torch.tensor([0, 1, 2, 4, 5, 7])
    everything = torch.ones(6, dtype=torch.bool)
    negative = torch.tensor([False, True, True, False, True, False])
    coarse = ExpressionCoarseHead(4, 8)
    probabilities = torch.softmax(coarse(x), -1)
    group = torch.softmax(coarse.coarse(x), -1)[:, 1]
    # The group's probability, shared by its four classes: what the coarse net says of them.
    assert torch.allclose(probabilities[:, [1, 2, 3, 5]], (group / 4)[:, None].expand(6, 4), atol=1e-6)
    loss = create_loss("cross_entropy")(coarse(x), classes[:, None].float(), everything)
    five = torch.nn.functional.cross_entropy(coarse.coarse(x), torch.tensor([0, 1, 1, 2, 1, 4]), reduction="sum")
    assert loss.item() == pytest.approx(((five + 3 * math.log(4)) / 6).item(), rel=1e-5)

    fine = ExpressionNegativeHead(4, 8)
    probabilities = torch.softmax(fine(x), -1)
    assert probabilities[:, [0, 4, 6, 7]].max().item() < 1e-6
    loss = create_loss("negative_cross_entropy")(fine(x), classes[:, None].float(), everything)
    expected = torch.nn.functional.cross_entropy(fine.fine(x)[negative], torch.tensor([0, 1, 3]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # Frames of other classes do not count; a batch without a negative frame costs 0 and still backpropagates.
    none = create_loss("negative_cross_entropy")(fine(x), classes[:, None].float(), ~negative)
    none.backward()
    assert none.item() == 0.0 and fine.fine.weight.grad.abs().sum().item() == 0.0
    with pytest.raises(ValueError, match="EXPR head"):
        ExpressionNegativeHead(4, 2)


def multitask_sequences(rng, count, length):
    """VA, EXPR and AU labels, each readable from its own features; AU annotated on half the videos only."""
    layout = TaskLayout(["va", "expr", "au"])
    sequences = []
    for k in range(count):
        valence = np.tanh(rng.normal(size=(length, 2)))
        expression = rng.integers(0, 8, size=length)
        units = rng.random((length, 12)) < 0.3
        features = rng.normal(size=(length, 24)).astype(np.float32)
        features[:, :2] += 2 * valence
        features[np.arange(length), 2 + expression] += 3
        features[:, 10:22] += 2 * units
        sequence = Sequence(f"s{k}", np.arange(1, length + 1), np.ones(length, bool), [features])
        sequence.targets = np.concatenate([valence, expression[:, None], units], 1).astype(np.float32)
        sequence.annotated = np.ones((length, 3), bool)
        sequence.annotated[:, layout.index("au")] = k % 2 == 0
        sequences.append(sequence)
    return sequences


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_multitask_training_learns_every_task(framework):
    rng = np.random.default_rng(0)
    sequences = {"train": multitask_sequences(rng, 6, 48), "validation": multitask_sequences(rng, 2, 48)}
    model_config = {"fusion": FUSION, "encoder": TRANSFORMER, "framework": FRAMEWORKS[framework]}
    recipe = {
        "seed": 0,
        "window": 16,
        "stride": 8,
        "epochs": 20,
        "batch_size": 4,
        "learning_rate": 3e-3,
        "weight_decay": 0.0,
    }
    model, history = train(["va", "expr", "au"], sequences, model_config, recipe)
    first, last = history[0], history[-1]
    assert last["train_loss"] < first["train_loss"]
    for key in ("validation_va_score", "validation_expr_score", "validation_au_score"):
        assert last[key] > first[key] - 1e-9, key
    assert last["validation_score"] == pytest.approx(
        last["validation_va_score"] + last["validation_expr_score"] + last["validation_au_score"]
    )
    values = predict_sequence(["va", "expr", "au"], model, sequences["validation"][0], 16, 8)
    assert values.shape == (48, 22)
    assert np.allclose(values[:, 2:10].sum(1), 1.0, atol=1e-5)
    assert math.isfinite(last["validation_score"])

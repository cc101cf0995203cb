"""Training recipe parts: optimisers, warm-up + cosine, EMA, clipping, early stopping, oversampling, k-fold."""

import numpy as np
import pytest
import torch
from test_training import MODEL, RECIPE, make_sequences

from abawflow.core.errors import ConfigError
from abawflow.tasks.specs import TaskLayout
from abawflow.training.loop import ExponentialMovingAverage, learning_rate_factor
from abawflow.training.regimes import make_windows
from abawflow.training.sequences import Sequence
from abawflow.training.temporal import class_balanced_weights, fold_sequences, train


def test_warm_up_then_cosine():
    factors = [learning_rate_factor(e, 10, "cosine", 2) for e in range(1, 11)]
    assert factors[:2] == pytest.approx([1 / 3, 2 / 3])
    assert factors[2] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(factors[2:], factors[3:], strict=False))
    assert factors[-1] == pytest.approx(0.5 * (1 + np.cos(np.pi * 7 / 8)))
    assert [learning_rate_factor(e, 5) for e in range(1, 6)] == [1.0] * 5
    with pytest.raises(ConfigError, match="schedule"):
        learning_rate_factor(3, 5, "step")


def test_exponential_moving_average_of_weights():
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = ExponentialMovingAverage(model, decay=0.9)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)
    ema.update(model)
    # 0 -> 0.1 -> 0.19
    assert ema.averaged(model).weight.detach().numpy() == pytest.approx(np.full((1, 2), 0.19))
    assert model.weight.detach().numpy() == pytest.approx(np.ones((1, 2)))


def test_recipe_options_train_deterministically():
    rng = np.random.default_rng(0)
    sequences = {"train": make_sequences(rng, 4, 60), "validation": make_sequences(rng, 1, 40)}
    recipe = dict(
        RECIPE,
        epochs=6,
        optimizer="adam",
        schedule="cosine",
        warmup_epochs=1,
        ema=0.5,
        gradient_clip=0.1,
    )
    _, history = train("au", sequences, MODEL, recipe)
    _, again = train("au", sequences, MODEL, recipe)
    assert history == again
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert [row["learning_rate"] for row in history][:2] == pytest.approx(
        [RECIPE["learning_rate"] / 2] * 1 + [RECIPE["learning_rate"]]
    )
    _, plain = train("au", sequences, MODEL, dict(RECIPE, epochs=6))
    assert plain != history  # the options change training
    with pytest.raises(ConfigError, match="optimizer"):
        train("au", sequences, MODEL, dict(recipe, optimizer="sgd"))


def test_early_stopping_keeps_the_best_epoch():
    rng = np.random.default_rng(0)
    sequences = {"train": make_sequences(rng, 4, 60), "validation": make_sequences(rng, 1, 40)}
    # A learning rate this high makes validation scores wander; patience 2 stops and keeps the best.
    recipe = dict(RECIPE, epochs=30, learning_rate=0.05, patience=2)
    model, history = train("au", sequences, MODEL, recipe)
    scores = [row["validation_score"] for row in history]
    best = int(np.argmax(scores))
    assert len(history) == best + 1 + 2 < 30  # stopped two epochs after the best
    from abawflow.training.temporal import evaluate

    assert evaluate("au", model, sequences["validation"], recipe)["score"] == pytest.approx(scores[best])


def expression_sequences(classes_per_sequence):
    sequences = []
    for k, classes in enumerate(classes_per_sequence):
        classes = np.asarray(classes)
        sequence = Sequence(
            f"e{k}", np.arange(1, len(classes) + 1), np.ones(len(classes), bool), [np.zeros((len(classes), 2))]
        )
        sequence.targets = classes[:, None].astype(np.float32)
        sequence.annotated = np.ones((len(classes), 1), bool)
        sequences.append(sequence)
    return sequences


def test_class_balanced_oversampling_weights():
    # 12 frames of class 0 in one window, 2 frames of class 3 in another.
    sequences = expression_sequences([[0] * 12, [3] * 2])
    items = make_windows(sequences, 16, 16)
    weights = class_balanced_weights(items, TaskLayout("expr"))
    assert weights == pytest.approx(np.array([1 / 12, 1 / 2]) / (1 / 12 + 1 / 2))
    with pytest.raises(ConfigError, match="multiclass"):
        class_balanced_weights(items, TaskLayout("va"))


def test_folds_split_training_videos_and_stay_the_same_across_seeds():
    rng = np.random.default_rng(0)
    sequences = make_sequences(rng, 7, 10)
    held_out = []
    for fold in range(3):
        training, validation = fold_sequences(sequences, 3, fold)
        assert {s.subject for s in training} | {s.subject for s in validation} == {s.subject for s in sequences}
        assert not {s.subject for s in training} & {s.subject for s in validation}
        held_out.extend(s.subject for s in validation)
    assert sorted(held_out) == sorted(s.subject for s in sequences)  # every video held out exactly once
    assert [s.subject for s in fold_sequences(sequences, 3, 1)[1]] == [
        s.subject for s in fold_sequences(sequences, 3, 1)[1]
    ]
    with pytest.raises(ConfigError, match="at least 9"):
        fold_sequences(sequences, 9, 0)

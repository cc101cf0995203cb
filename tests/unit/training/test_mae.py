"""MAE pre-training: the masking ratio, reconstruction of masked patches only, a falling loss."""

import numpy as np
import pytest
import timm
import torch
from support.fer_fixture import fixture_crops

from abawflow.training.mae_pretraining import pretrain_mae
from models.mae import MaskedAutoencoder

# A small MAE recipe; each test sets its epochs and batch size.
RECIPE = {
    "seed": 0,
    "learning_rate": 2e-3,
    "weight_decay": 0.0,
    "mask_ratio": 0.75,
    "decoder_width": 32,
    "decoder_layers": 1,
    "decoder_heads": 2,
}


def tiny_vit(size=32):
    return timm.create_model(
        "vit_tiny_patch16_224",
        pretrained=False,
        num_classes=0,
        img_size=size,
        patch_size=8,
        depth=2,
        embed_dim=48,
        num_heads=2,
    )


def test_masking_hides_three_quarters_of_the_patches_and_scores_only_them():
    torch.manual_seed(0)
    model = MaskedAutoencoder(tiny_vit(), decoder_width=32, decoder_layers=1, decoder_heads=2, mask_ratio=0.75)
    images = torch.randn(3, 3, 32, 32)
    loss, predicted, mask = model(images)
    assert predicted.shape == (3, 16, 8 * 8 * 3)
    assert mask.sum(1).tolist() == [12.0, 12.0, 12.0]  # 16 patches, 4 visible
    assert not torch.equal(mask[0], mask[1])  # a new random mask per image
    target = model.patchify(images)
    expected = (((predicted - target) ** 2).mean(-1) * mask).sum() / mask.sum()
    assert loss.item() == pytest.approx(expected.item())
    # patchify is row-major: patch 1 is the top row's second 8 x 8 block.
    assert torch.equal(target[0, 1].reshape(8, 8, 3).permute(2, 0, 1), images[0, :, :8, 8:16])
    with pytest.raises(ValueError, match="mask_ratio"):
        MaskedAutoencoder(tiny_vit(), mask_ratio=1.0)


def test_pretraining_lowers_the_reconstruction_loss_on_real_faces():
    crops, _ = fixture_crops()
    crops = [np.ascontiguousarray(c) for c in crops] * 2
    spec = {"input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}
    recipe = dict(RECIPE, epochs=12, batch_size=6)
    encoder = tiny_vit()
    state, history = pretrain_mae(encoder, spec, crops, recipe)
    assert history[-1]["reconstruction_loss"] < 0.7 * history[0]["reconstruction_loss"]
    assert set(state) == set(tiny_vit().state_dict())  # the encoder alone: the decoder is dropped


def test_pretraining_killed_after_an_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    """MAE runs in the shared training loop: a killed job goes on from its last finished epoch."""
    crops, _ = fixture_crops()
    crops = [np.ascontiguousarray(c) for c in crops]
    spec = {"input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}
    recipe = dict(RECIPE, epochs=3, batch_size=4)

    def encoder():
        torch.manual_seed(0)
        return tiny_vit()

    uninterrupted, history = pretrain_mae(encoder(), spec, crops, recipe)
    state = tmp_path / "mae_state.pt"
    pretrain_mae(encoder(), spec, crops, dict(recipe, epochs=1), state_path=state, resume_key="same inputs")
    assert torch.load(state, weights_only=True)["epoch"] == 1
    resumed, resumed_history = pretrain_mae(encoder(), spec, crops, recipe, state_path=state, resume_key="same inputs")
    assert resumed_history == history
    for name, tensor in uninterrupted.items():
        assert torch.equal(tensor, resumed[name]), name

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
    model, history = pretrain_mae(encoder, spec, crops, recipe)
    assert history[-1]["reconstruction_loss"] < 0.7 * history[0]["reconstruction_loss"]
    assert model.encoder is encoder  # the backbone; the decoder only draws the report's reconstructions


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
    uninterrupted = uninterrupted.state_dict()
    state = tmp_path / "mae_state.pt"
    pretrain_mae(encoder(), spec, crops, dict(recipe, epochs=1), state_path=state, resume_key="same inputs")
    assert torch.load(state, weights_only=True)["epoch"] == 1
    resumed, resumed_history = pretrain_mae(encoder(), spec, crops, recipe, state_path=state, resume_key="same inputs")
    resumed = resumed.state_dict()
    assert resumed_history == history
    for name, tensor in uninterrupted.items():
        assert torch.equal(tensor, resumed[name]), name


@pytest.mark.parametrize("form", ["timm", "mae_release", "previous_run"])
def test_pretraining_starts_from_a_vit_checkpoint_at_another_input_and_patch_size(tmp_path, form):
    """A timm ViT's weights made at 48x48 with 16-pixel patches start an MAE at 32x32 with 8-pixel patches:
    position and patch embeddings resampled, every other weight as saved, then trained."""
    from models.backbones import check_start_state, vit_start_state

    torch.manual_seed(1)
    source = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=48, depth=2, embed_dim=48, num_heads=2
    )
    state = source.state_dict()
    saved = {
        "timm": state,
        # The MAE authors' release: the encoder under "model", beside their decoder.
        "mae_release": {
            "model": {**state, "decoder_embed.weight": torch.zeros(32, 48), "mask_token": torch.zeros(1, 1, 32)}
        },
        "previous_run": {"kind": "mae", "architecture": "vit_tiny_patch16_224", "state_dict": state},
    }[form]
    path = tmp_path / "start.pth"
    torch.save(saved, path)
    spec = {
        "architecture": "vit_tiny_patch16_224",
        "model_options": {"img_size": 32, "patch_size": 8, "depth": 2, "embed_dim": 48, "num_heads": 2},
        "mae": {"start_from": str(path)},
    }
    check_start_state("vit_start", spec)  # the dry run's check, on the meta device
    encoder = tiny_vit()
    encoder.load_state_dict(vit_start_state(encoder, path))
    assert encoder.pos_embed.shape == (1, 17, 48) and state["pos_embed"].shape == (1, 10, 48)
    assert encoder.patch_embed.proj.weight.shape == (48, 3, 8, 8)
    assert torch.equal(encoder.blocks[1].attn.qkv.weight, state["blocks.1.attn.qkv.weight"])
    assert torch.equal(encoder.pos_embed[:, 0], state["pos_embed"][:, 0])  # the class token's, not resampled
    crops, _ = fixture_crops()
    trained, history = pretrain_mae(
        encoder,
        {"input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3},
        list(crops),
        dict(RECIPE, epochs=2, batch_size=6),
    )
    assert len(history) == 2 and np.isfinite([row["reconstruction_loss"] for row in history]).all()
    assert not torch.equal(trained.encoder.blocks[1].attn.qkv.weight, state["blocks.1.attn.qkv.weight"])


def test_a_start_checkpoint_of_another_architecture_is_named_with_its_keys(tmp_path):
    from models.backbones import check_start_state
    from models.errors import ModelLoadError

    wider = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=32, depth=2)
    torch.save(wider.state_dict(), tmp_path / "wider.pth")
    spec = {
        "architecture": "vit_tiny_patch16_224",
        "model_options": {"img_size": 32, "depth": 2, "embed_dim": 48, "num_heads": 2},
    }
    with pytest.raises(ModelLoadError, match=r"wider.pth: checkpoint does not match the architecture.*shapes differ"):
        check_start_state("vit_start", {**spec, "mae": {"start_from": str(tmp_path / "wider.pth")}})


def test_the_report_shows_the_loss_and_held_out_faces_masked_and_rebuilt(tmp_path):
    import polars as pl
    from PIL import Image

    from abawflow.report.figures import mae_pretraining
    from abawflow.stage_one.feature_stage import preprocess

    crops, _ = fixture_crops()
    crops = [np.ascontiguousarray(c) for c in crops]
    spec = {"input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}
    model, history = pretrain_mae(tiny_vit(), spec, crops[:5], dict(RECIPE, epochs=2, batch_size=4))
    images = preprocess(crops[5:9], 32, spec["mean"], spec["std"])  # four faces it did not train on
    # unpatchify inverts patchify
    assert torch.equal(model.unpatchify(model.patchify(images), 3), images)
    output = tmp_path / "mae.png"
    mae_pretraining(model, images, spec["mean"], spec["std"], pl.DataFrame(history), output, "vit_mae")
    again = tmp_path / "again.png"
    mae_pretraining(model, images, spec["mean"], spec["std"], pl.DataFrame(history), again, "vit_mae")
    assert output.read_bytes() == again.read_bytes()  # the same masks every time
    width, height = Image.open(output).size
    assert width > 2 * height / 1.5 and height > 300


def test_a_checkpoint_keeps_the_decoder_beside_the_backbone_and_rebuilds_the_autoencoder(tmp_path):
    from abawflow.training.mae_pretraining import decoder_state, trained_autoencoder

    crops, _ = fixture_crops()
    spec = {
        "architecture": "vit_tiny_patch16_224",
        "model_options": {"img_size": 32, "patch_size": 8, "depth": 2, "embed_dim": 48, "num_heads": 2},
        "seed": 0,
        "input_size": 32,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "mae": dict(RECIPE, epochs=1, batch_size=4),
    }
    model, _ = pretrain_mae(tiny_vit(), spec, [np.ascontiguousarray(c) for c in crops], spec["mae"])
    checkpoint = {"state_dict": model.encoder.state_dict(), "decoder": decoder_state(model)}
    assert (
        not any(key.startswith("encoder.") for key in checkpoint["decoder"]) and "mask_token" in checkpoint["decoder"]
    )
    torch.save(checkpoint, tmp_path / "mae.pt")
    rebuilt = trained_autoencoder("vit_mae", spec, torch.load(tmp_path / "mae.pt", weights_only=True))
    for key, value in model.state_dict().items():
        assert torch.equal(value, rebuilt.state_dict()[key]), key


def test_pretraining_on_image_folders_decoded_by_batch_equals_pretraining_on_the_decoded_images(tmp_path):
    from support.fer_fixture import write_face_folder

    from abawflow.training.image_corpus import ImageCorpus, folder_corpus

    write_face_folder(tmp_path / "faces")
    corpus = ImageCorpus.joined([folder_corpus(tmp_path / "faces", None, 0), folder_corpus(tmp_path / "faces", 4, 1)])
    spec = {"input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}
    recipe = dict(RECIPE, epochs=3, batch_size=5)
    torch.manual_seed(0)
    model, history = pretrain_mae(tiny_vit(), spec, corpus, recipe)
    torch.manual_seed(0)
    arrays, arrays_history = pretrain_mae(tiny_vit(), spec, corpus.images(range(len(corpus))), recipe)
    assert [row["reconstruction_loss"] for row in history] == [row["reconstruction_loss"] for row in arrays_history]
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), arrays.state_dict().values(), strict=True)
    )

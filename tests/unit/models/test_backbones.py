import copy

import numpy as np
import pytest
import timm
import torch
from support.fer_fixture import FER, fixture_crops

from abawflow.core.errors import ModelLoadError
from abawflow.stage_one.feature_stage import preprocess
from models.backbones import build_backbone, check_checkpoint, create_backbone, load_checkpoint


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_random_weights_need_explicit_permission_and_are_seeded(caplog):
    with pytest.raises(ModelLoadError, match="has no checkpoint; set its checkpoint path, or set allow_random_weights"):
        create_backbone("resnet10t", name="plain")
    first = create_backbone("resnet10t", allow_random_weights=True, seed=3)
    assert "runs with RANDOM weights" in caplog.text
    assert same_weights(first, create_backbone("resnet10t", allow_random_weights=True, seed=3))
    assert not same_weights(first, create_backbone("resnet10t", allow_random_weights=True, seed=4))


def timm_state(seed=1):
    """A timm model's own state_dict(), its classifier included: what `torch.save(model.state_dict())` holds."""
    torch.manual_seed(seed)
    return timm.create_model("resnet10t", pretrained=False).state_dict()


def save_safetensors(state, path):
    from safetensors.torch import save_file

    save_file({key: value.contiguous() for key, value in state.items()}, str(path))


def save_pickled_model(state, path):
    """A whole model, as HSEmotion ships its releases: a timm model whose classifier was replaced."""
    model = timm.create_model("resnet10t", pretrained=False)
    model.load_state_dict(state)
    model.fc = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(512, 8))
    torch.save(model, path)


CHECKPOINT_FORMS = {
    "state_dict": lambda state, path: torch.save(state, path),
    "wrapped_state_dict": lambda state, path: torch.save({"state_dict": state, "epoch": 3}, path),
    "wrapped_model": lambda state, path: torch.save({"model": state, "args": {"lr": 0.1}}, path),
    "lightning": lambda state, path: torch.save(
        {"state_dict": {f"model.{key}": value for key, value in state.items()}, "global_step": 10}, path
    ),
    "data_parallel": lambda state, path: torch.save({f"module.{key}": value for key, value in state.items()}, path),
    "safetensors": save_safetensors,
    "pickled_model": save_pickled_model,
}


@pytest.mark.parametrize("form", CHECKPOINT_FORMS)
def test_every_checkpoint_form_loads_without_its_classifier(tmp_path, form):
    state = timm_state()
    path = tmp_path / ("weights.safetensors" if form == "safetensors" else "weights.pth")
    CHECKPOINT_FORMS[form](state, path)
    spec = {"architecture": "resnet10t", "checkpoint": str(path)}
    check_checkpoint("face", spec)  # the plan's check, on the meta device
    loaded = create_backbone("resnet10t", checkpoint=str(path), seed=2)
    assert set(loaded.state_dict()) == set(state) - {"fc.weight", "fc.bias"}
    assert all(torch.equal(value, state[key]) for key, value in loaded.state_dict().items())


def test_a_classifier_is_dropped_only_under_the_name_timm_gives_it(tmp_path):
    state = timm_state()
    state["classifier.0.weight"] = state.pop("fc.weight")
    path = tmp_path / "renamed.pth"
    torch.save(state, path)
    for attempt in (
        lambda: check_checkpoint("face", {"architecture": "resnet10t", "checkpoint": path}),
        lambda: create_backbone("resnet10t", checkpoint=str(path)),
    ):
        with pytest.raises(ModelLoadError, match=r"unexpected keys \(1\): classifier.0.weight"):
            attempt()


def test_a_checkpoint_of_another_architecture_names_the_keys_whose_shapes_differ(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "wide.pth"
    torch.save(timm.create_model("resnet10t", pretrained=False, stem_width=16).state_dict(), path)
    with pytest.raises(ModelLoadError, match=r"shapes differ .*conv1.0.weight \(12, 3, 3, 3\) vs \(24, 3, 3, 3\)"):
        check_checkpoint("face", {"architecture": "resnet10t", "checkpoint": str(path)})


def test_num_classes_in_model_options_is_refused_with_what_to_do():
    with pytest.raises(ModelLoadError, match="model_options sets num_classes.*remove num_classes"):
        create_backbone("resnet10t", allow_random_weights=True, model_options={"num_classes": 1000})


def test_mismatched_checkpoint_lists_missing_and_unexpected_keys(tmp_path):
    state = create_backbone("resnet10t", allow_random_weights=True).state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["conv1.0.weight"]
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ModelLoadError) as error:
        load_checkpoint(create_backbone("resnet10t", allow_random_weights=True), path)
    message = str(error.value)
    assert (
        "bad.pth" in message
        and "missing keys (1): conv1.0.weight" in message
        and "unexpected keys (1): extra.weight" in message
    )
    with pytest.raises(ModelLoadError, match="checkpoint not found"):
        load_checkpoint(create_backbone("resnet10t", allow_random_weights=True), tmp_path / "none.pth")


@torch.no_grad()
def test_ported_fer_model_equals_the_keras_original_on_real_faces():
    """The fixture holds the original Keras model's outputs (see fixtures/fer/make_reference.py)."""
    crops, reference = fixture_crops()
    inputs = preprocess([np.ascontiguousarray(c) for c in crops], 64, [0.5], [0.5], "gray")
    probabilities = build_backbone("fer", FER)(inputs).numpy()
    np.testing.assert_allclose(probabilities, reference["probabilities"], atol=1e-5)
    features = build_backbone("fer", {**FER, "output": "add_4", "output_width": 128})(inputs).numpy()
    np.testing.assert_allclose(features, reference["features"], atol=1e-5)
    # The astronaut smiles: FER2013 class 3 is happy.
    assert probabilities[list(reference["names"]).index("astronaut_0.png")].argmax() == 3


class SmallNetwork(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.convolution = torch.nn.Conv2d(3, 8, 3, stride=2)
        self.head = torch.nn.Linear(8, 5)

    def forward(self, x):
        return self.head(torch.relu(self.convolution(x)).mean(dim=(2, 3)))


@torch.no_grad()
def test_onnx_and_torchscript_backbones_give_the_source_models_outputs(tmp_path):
    torch.manual_seed(0)
    network = SmallNetwork().eval()
    images = torch.randn(4, 3, 32, 32)
    expected = network(images).numpy()
    torch.onnx.export(
        network,
        (images,),
        tmp_path / "small.onnx",
        input_names=["image"],
        output_names=["embedding"],
        dynamic_axes={"image": {0: "batch"}},
        dynamo=False,
    )
    torch.jit.trace(network, images).save(str(tmp_path / "small.pt"))
    common = {"output_width": 5, "input_size": 32, "channels": "rgb"}
    onnx = build_backbone("small_onnx", {**common, "format": "onnx", "path": str(tmp_path / "small.onnx")})
    np.testing.assert_allclose(onnx(images).numpy(), expected, atol=1e-5)
    script = build_backbone("small_ts", {**common, "format": "torchscript", "path": str(tmp_path / "small.pt")})
    np.testing.assert_allclose(script(images).numpy(), expected, atol=1e-6)
    with pytest.raises(ModelLoadError, match="no output named 'logits'; outputs: embedding"):
        build_backbone("x", {**common, "format": "onnx", "path": str(tmp_path / "small.onnx"), "output": "logits"})
    with pytest.raises(ModelLoadError, match="declared output_width 6, but the model gives 5"):
        build_backbone("x", {**common, "format": "torchscript", "path": str(tmp_path / "small.pt"), "output_width": 6})
    with pytest.raises(ModelLoadError, match="1-channel 32x32 input fails"):
        build_backbone("x", {**common, "format": "torchscript", "path": str(tmp_path / "small.pt"), "channels": "gray"})


def test_model_files_are_found_or_named_in_the_error(tmp_path):
    with pytest.raises(ModelLoadError, match="missing.onnx not found"):
        build_backbone(
            "x", {"format": "onnx", "path": str(tmp_path / "missing.onnx"), "output_width": 1, "input_size": 8}
        )
    with pytest.raises(ModelLoadError, match="package 'not-a-package' is not installed"):
        build_backbone("x", {**FER, "path": "package:not-a-package/model.h5"})
    with pytest.raises(ModelLoadError, match="'fer/data/none.hdf5' is not in package 'fer'"):
        build_backbone("x", {**FER, "path": "package:fer/fer/data/none.hdf5"})
    with pytest.raises(ModelLoadError, match="has no layer 'add_9'"):
        build_backbone("x", {**FER, "output": "add_9"})
    (tmp_path / "text.pt").write_text("not a model")
    with pytest.raises(ModelLoadError, match="not a TorchScript module"):
        build_backbone(
            "x", {"format": "torchscript", "path": str(tmp_path / "text.pt"), "output_width": 1, "input_size": 8}
        )


VIT = {"img_size": 32, "patch_size": 8, "depth": 1, "embed_dim": 16, "num_heads": 2}


def test_a_patch_token_grid_pools_the_vit_tokens_by_place_and_keeps_its_weights(tmp_path):
    plain = create_backbone("vit_tiny_patch16_224", None, True, "vit", VIT, seed=5)
    gridded = create_backbone("vit_tiny_patch16_224", None, True, "vit", VIT, seed=5, patch_token_grid=2)
    images = torch.randn(3, 3, 32, 32)
    features = gridded(images)
    assert features.shape == (3, 2 * 2 * 16)
    # 4 x 4 patches onto 2 x 2: each cell the mean of its four patches' final tokens, channels first.
    tokens = plain.forward_features(images)[:, 1:].reshape(3, 4, 4, 16)
    top_left = tokens[:, :2, :2].mean(dim=(1, 2))
    torch.testing.assert_close(features.reshape(3, 16, 2, 2)[:, :, 0, 0], top_left)
    assert same_weights(plain, gridded) and plain.state_dict().keys() == gridded.state_dict().keys()
    torch.save(gridded.state_dict(), tmp_path / "vit.pt")  # any ViT checkpoint loads, and a gridded one is a ViT's
    loaded = create_backbone("vit_tiny_patch16_224", str(tmp_path / "vit.pt"), name="vit", model_options=VIT)
    torch.testing.assert_close(loaded(images), plain(images))
    copied = copy.deepcopy(gridded)  # fine-tuning copies backbones: the copy pools its own tokens
    with torch.no_grad():
        copied.blocks[0].mlp.fc2.bias.add_(1.0)
    assert not torch.allclose(copied(images), features)


@pytest.mark.parametrize(
    "architecture, options, grid, message",
    [
        ("resnet10t", {}, 2, "patch_token_grid needs a timm VisionTransformer"),
        ("vit_tiny_patch16_224", {**VIT, "global_pool": "avg"}, 2, "remove model_options.global_pool"),
        ("vit_tiny_patch16_224", VIT, 5, "patch_token_grid 5 exceeds the ViT's 4x4 patches"),
    ],
)
def test_a_patch_token_grid_the_model_cannot_take_is_named(architecture, options, grid, message):
    with pytest.raises(ModelLoadError, match=message):
        create_backbone(architecture, None, True, "vit", options, patch_token_grid=grid)

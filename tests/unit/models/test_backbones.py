import numpy as np
import pytest
import torch
from support.fer_fixture import FER, fixture_crops

from abawflow.core.errors import ModelLoadError
from abawflow.stage_one.feature_stage import preprocess
from models.backbones import build_backbone, create_backbone, load_checkpoint


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_random_weights_need_explicit_permission_and_are_seeded(caplog):
    with pytest.raises(ModelLoadError, match="has no checkpoint; set its checkpoint path, or set allow_random_weights"):
        create_backbone("resnet10t", name="plain")
    first = create_backbone("resnet10t", allow_random_weights=True, seed=3)
    assert "runs with RANDOM weights" in caplog.text
    assert same_weights(first, create_backbone("resnet10t", allow_random_weights=True, seed=3))
    assert not same_weights(first, create_backbone("resnet10t", allow_random_weights=True, seed=4))


@pytest.mark.parametrize(
    "wrap", [lambda s: s, lambda s: {"state_dict": s}, lambda s: {"model": {f"module.{k}": v for k, v in s.items()}}]
)
def test_checkpoint_layouts_load(tmp_path, wrap):
    source = create_backbone("resnet10t", allow_random_weights=True, seed=1)
    path = tmp_path / "weights.pth"
    torch.save(wrap(source.state_dict()), path)
    loaded = create_backbone("resnet10t", checkpoint=str(path), seed=2)
    assert same_weights(source, loaded)


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

import pytest
import torch

from abawflow.errors import ModelLoadError
from models.backbones import create_backbone, load_checkpoint


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

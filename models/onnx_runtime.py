"""onnxruntime's execution providers for a torch device: CUDA first where the device is a GPU and the
installed onnxruntime has it, else the CPU."""


def onnx_providers(device):
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if device != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]

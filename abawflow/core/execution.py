"""Execution-only settings: they change how fast a job runs and where, never what it writes.

Rules do not take them as params (a param change reruns the rule); scripts read them from the
workflow's config here. The code fingerprint treats this module as plumbing.
"""


def device(config):
    """The config's `device`: auto, cpu or cuda[:index]."""
    return config.get("device", "auto")


def jpeg_decoding(config):
    """Where the feature stage decodes the crops: auto (the GPU when the job runs on one), host or device."""
    return config.get("jpeg_decoding", "auto")


def video_decoding(config):
    """Who decodes the face stage's videos: host (FFmpeg on CPU threads) or nvdec (the GPU's decoders)."""
    return config.get("video_decoding", "host")


def faces_batch_size(config):
    """Frames decoded and detected at a time."""
    return int(config["faces"]["batch_size"])


def feature_batch_size(config, backbone):
    """Images per forward pass of `backbone`; a fine-tuned backbone runs at its base's batch size."""
    backbones = config["backbones"]
    spec = backbones[backbone]
    seen = {backbone}
    while spec.get("format") == "fine_tuned" and spec.get("base") in backbones and spec["base"] not in seen:
        seen.add(spec["base"])
        spec = backbones[spec["base"]]
    return int(spec.get("batch_size", 64))


def feature_memory_bytes(config):
    """Bytes of feature matrices a training or prediction job keeps resident (RAM, or GPU memory on a GPU);
    larger ones are read from disk window by window."""
    return int(float(config.get("feature_memory_gb", 8)) * 1e9)

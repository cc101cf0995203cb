"""Execution-only settings: they change how fast a job runs and where, never what it writes.

Rules do not take them as params (a param change reruns the rule); a workflow script reads them as one
settings object from the workflow's config, which the schema has validated and filled with its defaults
(abawflow/plan/config.schema.yaml). The code fingerprint treats this module as plumbing.
"""

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class ExecutionSettings:
    device: str  # auto, cpu or cuda[:index]
    jpeg_decoding: str  # where the feature stage decodes crops: auto (the GPU when the job runs on one), host, device
    video_decoding: str  # who decodes the face stage's videos: host (FFmpeg on CPU threads) or nvdec (the GPU's)
    faces_batch_size: int  # frames decoded and detected at a time
    stage_one_threads: int  # threads of a face or feature job, capped at --cores
    feature_memory_bytes: int  # feature matrices a training or prediction job keeps resident; larger ones are read
    # from disk window by window
    backbone_batch_sizes: MappingProxyType  # backbone -> images per forward pass

    def feature_batch_size(self, backbone):
        return self.backbone_batch_sizes[backbone]


def settings(config):
    """The execution settings of a validated config (every key present: the schema filled in the defaults)."""
    backbones = config["backbones"]
    return ExecutionSettings(
        device=config["device"],
        jpeg_decoding=config["jpeg_decoding"],
        video_decoding=config["video_decoding"],
        faces_batch_size=int(config["faces"]["batch_size"]),
        stage_one_threads=int(config["stage_one_threads"]),
        feature_memory_bytes=int(float(config["feature_memory_gb"]) * 1e9),
        backbone_batch_sizes=MappingProxyType({name: _batch_size(backbones, name) for name in backbones}),
    )


def _batch_size(backbones, name):
    """A backbone's batch size; a fine-tuned backbone runs at its base's."""
    spec, seen = backbones[name], {name}
    while spec.get("format") == "fine_tuned" and spec.get("base") in backbones and spec["base"] not in seen:
        seen.add(spec["base"])
        spec = backbones[spec["base"]]
    return int(spec["batch_size"])

"""Rule extract_features: one backbone over one shard of aligned faces -> feature table."""

from abawflow.core import execution
from abawflow.core.devices import resolve_device
from abawflow.core.rule_runner import run
from abawflow.stage_one.feature_stage import extract_features
from abawflow.tasks.specs import task_head
from models.backbones import build_backbone


def main(snakemake):
    settings = execution.settings(snakemake.config)
    spec = snakemake.params.backbone
    device = resolve_device(settings.device)
    model = build_backbone(snakemake.wildcards.backbone, spec, device, task_head)
    extract_features(
        [snakemake.input.faces],
        model,
        snakemake.output[0],
        spec["input_size"],
        spec["mean"],
        spec["std"],
        settings.feature_batch_size(snakemake.wildcards.backbone),
        device,
        spec["channels"],
        spec["precision"],
        workers=snakemake.threads,
        jpeg_decoding=settings.jpeg_decoding,
    )


run(snakemake, main)  # noqa: F821

"""Rule extract_features: one backbone over one shard of aligned faces -> feature table."""

from abawflow.core import execution
from abawflow.core.devices import resolve_device
from abawflow.core.rule_runner import run
from abawflow.stage_one.feature_stage import extract_features
from abawflow.tasks.specs import task_head
from models.backbones import build_backbone


def main(snakemake):
    spec = snakemake.params.backbone
    device = resolve_device(execution.device(snakemake.config))
    model = build_backbone(snakemake.wildcards.backbone, spec, device, task_head)
    extract_features(
        [snakemake.input.faces],
        model,
        snakemake.output[0],
        spec["input_size"],
        spec["mean"],
        spec["std"],
        execution.feature_batch_size(snakemake.config, snakemake.wildcards.backbone),
        device,
        spec["channels"],
        spec["precision"],
        workers=snakemake.threads,
        jpeg_decoding=execution.jpeg_decoding(snakemake.config),
    )


run(snakemake, main)  # noqa: F821

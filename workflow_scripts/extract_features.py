"""Rule extract_features: one backbone over one shard of aligned faces -> feature table."""

import sys
from pathlib import Path

# Import abawflow and models from this repository (Snakemake puts only workflow_scripts/ on the path).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from abawflow.devices import resolve_device
from abawflow.features import extract_features
from abawflow.rule_runner import run
from models.backbones import build_backbone


def main(snakemake):
    spec = snakemake.params.backbone
    device = resolve_device(snakemake.params.device)
    model = build_backbone(snakemake.wildcards.backbone, spec, device)
    extract_features(
        [snakemake.input.faces],
        model,
        snakemake.output[0],
        spec["input_size"],
        spec["mean"],
        spec["std"],
        spec["batch_size"],
        device,
        spec["channels"],
    )


run(snakemake, main)  # noqa: F821

"""Rule extract_audio_features: one audio backbone over every video's sound track -> feature table."""

import polars as pl

from abawflow.core import execution
from abawflow.core.devices import resolve_device
from abawflow.core.rule_runner import run
from abawflow.stage_one.audio_stage import extract_audio_features
from models.audio import create_audio_extractor


def main(snakemake):
    settings = execution.settings(snakemake.config)
    spec = snakemake.params.backbone
    device = resolve_device(settings.device)
    extractor = create_audio_extractor(snakemake.wildcards.backbone, spec, device)
    extract_audio_features(
        pl.read_parquet(snakemake.input.media),
        snakemake.input.root,
        extractor,
        snakemake.output[0],
        spec["audio"]["sample_rate"],
        spec["audio"]["window_seconds"],
        settings.feature_batch_size(snakemake.wildcards.backbone),
        device,
    )


run(snakemake, main)  # noqa: F821

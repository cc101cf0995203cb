"""Rule extract_text_features: one text backbone over every video's transcript -> feature table."""

import polars as pl

from abawflow.core.rule_runner import run
from abawflow.stage_one.text_features import extract_text_features


def main(snakemake):
    extract_text_features(
        pl.read_parquet(snakemake.input.media),
        pl.read_parquet(snakemake.input.transcripts),
        snakemake.params.backbone,
        snakemake.output[0],
    )


run(snakemake, main)  # noqa: F821

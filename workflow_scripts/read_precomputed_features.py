"""Rule read_precomputed_features: the feature files a dataset ships per video -> one backbone's feature table."""

import polars as pl

from abawflow.core.rule_runner import run
from abawflow.stage_one.precomputed_features import read_precomputed_features


def main(snakemake):
    subjects = pl.read_parquet(snakemake.input.media)
    read_precomputed_features(subjects, snakemake.input.root, snakemake.params.backbone, snakemake.output[0])


run(snakemake, main)  # noqa: F821

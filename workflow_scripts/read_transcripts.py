"""Rule read_transcripts: a dataset's transcripts, by its registered reader -> one row per spoken chunk."""

import polars as pl

from abawflow.core.atomic import write_parquet
from abawflow.core.rule_runner import run
from abawflow.datasets.registry import DATASETS


def main(snakemake):
    dataset = DATASETS[snakemake.wildcards.dataset]
    subjects = pl.read_parquet(snakemake.input.media)
    transcripts = dataset.transcripts(snakemake.input.root, snakemake.params.settings, subjects)
    write_parquet(transcripts, snakemake.output[0])


run(snakemake, main)  # noqa: F821

"""Rule read_mtl_crops: the organizer crops listed by the MTL index -> one face table (no detection)."""

from pathlib import Path

import polars as pl

from abawflow.mtl import write_crop_table
from abawflow.rule_runner import run


def main(snakemake):
    images = pl.read_parquet(snakemake.input.images)
    write_crop_table(images, Path(snakemake.input.root) / snakemake.params.crops_folder, snakemake.output[0])


run(snakemake, main)  # noqa: F821

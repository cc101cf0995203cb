"""Rule index_s_aff_wild2: s-Aff-Wild2 annotation files and test list -> image, split and per-task label tables."""

import logging

import polars as pl

from abawflow.core.atomic import write_parquet
from abawflow.core.rule_runner import run
from abawflow.datasets.s_aff_wild2 import index_mtl

log = logging.getLogger("abawflow.index")


def main(snakemake):
    images, splits, labels = index_mtl(
        snakemake.input[0], snakemake.params.crops_folder, snakemake.params.annotation_files, snakemake.params.test_list
    )
    for split, rows in images.group_by("split", maintain_order=True):
        log.info("%s: %d images of %d videos", split[0], rows.height, rows["subject"].n_unique())
    for task, table in labels.items():
        log.info("%s: %d of %d images annotated", task.upper(), int(table["annotated"].sum()), table.height)
    write_parquet(images, snakemake.output.images)
    write_parquet(splits, snakemake.output.splits)
    for task, path in zip(labels, snakemake.output.labels, strict=True):
        write_parquet(labels[task].with_columns(pl.col("frame").cast(pl.Int32)), path)


run(snakemake, main)  # noqa: F821

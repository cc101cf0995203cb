"""Rules write_submission (ABAW5/6: one file per task) and write_submission_per_video (ABAW3: a file per video)."""

import polars as pl

from abawflow.rule_runner import run
from abawflow.submission import write_submission


def main(snakemake):
    task = snakemake.wildcards.task
    splits = pl.read_parquet(snakemake.input.splits)
    test_names = splits.filter((pl.col("task") == task) & (pl.col("split") == "test"))["subject"].to_list()
    predictions = pl.read_parquet(snakemake.input.predictions).filter(pl.col("split") == "test")
    write_submission(task, predictions, test_names, snakemake.output[0], snakemake.params.layout)


run(snakemake, main)  # noqa: F821

"""Rule ensemble_predictions: one task's member predictions -> their (weighted) average."""

import polars as pl

from abawflow.atomic import write_parquet
from abawflow.ensembles import average_predictions
from abawflow.postprocessing import postprocess
from abawflow.rule_runner import run


def main(snakemake):
    task = snakemake.wildcards.task
    tables = [pl.read_parquet(path) for path in snakemake.input.members]
    averaged = average_predictions(task, tables, snakemake.params.weights, snakemake.params.members)
    labels = pl.read_parquet(snakemake.input.labels)
    write_parquet(postprocess(task, averaged, snakemake.params.postprocess, labels), snakemake.output[0])


run(snakemake, main)  # noqa: F821

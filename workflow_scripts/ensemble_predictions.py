"""Rule ensemble_predictions: one task's member predictions (or the MTL challenge's) -> their weighted average."""

import polars as pl

from abawflow.core.atomic import write_parquet
from abawflow.core.rule_runner import run
from abawflow.predict.ensembles import average_predictions
from abawflow.predict.postprocessing import postprocess


def main(snakemake):
    tasks = snakemake.params.tasks
    tables = [pl.read_parquet(path) for path in snakemake.input.members]
    averaged = average_predictions(tasks, tables, snakemake.params.weights, snakemake.params.members)
    for task, path in zip(tasks, snakemake.input.labels, strict=True):
        averaged = postprocess(task, averaged, snakemake.params.postprocess, pl.read_parquet(path))
    write_parquet(averaged, snakemake.output[0])


run(snakemake, main)  # noqa: F821

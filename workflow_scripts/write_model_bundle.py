"""Rule write_model_bundle: the bundled tasks' models, backbone weights and settings -> results/bundle."""

import polars as pl

from abawflow.core.rule_runner import run
from abawflow.predict.bundle import task_details, write_bundle


def main(snakemake):
    contents = snakemake.params.contents
    runs = {tuple(run): path for run, path in zip(snakemake.params.runs, snakemake.input.models, strict=True)}
    splits = pl.read_parquet(snakemake.input.splits)
    metrics = pl.read_csv(snakemake.input.metrics)
    ensembles = [task for task, entry in contents["tasks"].items() if "weighting" in entry]
    weights = dict(zip(ensembles, snakemake.input.ensemble_weights, strict=True))
    details = {
        task: task_details(
            task,
            entry,
            pl.read_parquet(predictions),
            pl.read_parquet(labels),
            splits,
            metrics,
            pl.read_csv(weights[task]) if task in weights else None,
        )
        for (task, entry), predictions, labels in zip(
            contents["tasks"].items(), snakemake.input.predictions, snakemake.input.labels, strict=True
        )
    }
    write_bundle(snakemake.output[0], contents, runs, details)


run(snakemake, main)  # noqa: F821

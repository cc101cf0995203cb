"""Rule predict: one experiment's per-frame predictions of one task for its validation and test videos."""

import logging

import polars as pl
import torch

from abawflow.core import execution
from abawflow.core.atomic import write_parquet
from abawflow.core.devices import resolve_device
from abawflow.core.progress import Progress
from abawflow.core.rule_runner import run
from abawflow.predict.postprocessing import postprocess
from abawflow.predict.prediction_tables import predict_table, training_priors
from abawflow.training.feature_matrix import FeatureStore
from abawflow.training.sequences import build_sequences


def loaded(paths, device):
    """The runs' checkpoints, loaded one at a time; progress counts the runs predicted with."""
    progress = Progress(logging.getLogger("abawflow.predict"), "prediction", len(paths), "runs")
    for path in paths:
        yield torch.load(path, map_location=device, weights_only=True)
        progress.advance()


def main(snakemake):
    settings = execution.settings(snakemake.config)
    # A video task predicts its own outputs; the MTL challenge predicts the three tasks' outputs in one table.
    tasks = snakemake.params.tasks
    device = resolve_device(settings.device)
    labels = {task: pl.read_parquet(path) for task, path in zip(tasks, snakemake.input.labels, strict=True)}
    splits = pl.read_parquet(snakemake.input.splits)
    store = FeatureStore.open(list(snakemake.input.matrices), settings.feature_memory_bytes, device)
    sequences = build_sequences(list(snakemake.input.features), store, labels, splits, tasks)
    priors = training_priors(tasks, labels, splits)
    checkpoints = loaded(snakemake.input.models, device)
    table = predict_table(tasks, checkpoints, sequences, snakemake.params.windows, priors, device)
    for task in tasks:
        table = postprocess(task, table, snakemake.params.postprocess, labels[task])
    write_parquet(table, snakemake.output[0])


run(snakemake, main)  # noqa: F821

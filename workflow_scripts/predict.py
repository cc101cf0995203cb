"""Rule predict: one experiment's per-frame predictions of one task for its validation and test videos."""

import logging

import numpy as np
import polars as pl
import torch

from abawflow import execution
from abawflow.atomic import write_parquet
from abawflow.devices import resolve_device
from abawflow.ensembles import KEYS
from abawflow.postprocessing import postprocess
from abawflow.rule_runner import run
from abawflow.sequences import build_sequences
from abawflow.submission import prediction_table
from abawflow.tasks import TaskLayout
from abawflow.training import build_model, predict_sequence, training_priors

log = logging.getLogger("abawflow.predict")


def main(snakemake):
    # A video task predicts its own outputs; the MTL challenge predicts the three tasks' outputs in one table.
    tasks = snakemake.params.tasks
    device = resolve_device(execution.device(snakemake.config))
    labels = {task: pl.read_parquet(path) for task, path in zip(tasks, snakemake.input.labels, strict=True)}
    splits = pl.read_parquet(snakemake.input.splits)
    sequences = build_sequences(list(snakemake.input.features), labels, splits, tasks)
    priors = training_priors(tasks, labels, splits)
    windows = snakemake.params.windows
    # The experiment's runs (folds x seeds) are averaged: values for VA, probabilities for EXPR and AU.
    totals = {}
    for path in snakemake.input.models:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
        layout = TaskLayout(checkpoint["tasks"])
        model = build_model(layout.tasks, checkpoint["input_widths"], checkpoint["model"]).to(device)
        model.load_state_dict(checkpoint["state_dict"])
        for split in ("validation", "test"):
            for sequence in sequences[split]:
                outputs = predict_sequence(layout.tasks, model, sequence, windows["window"], windows["stride"], device)
                for task in tasks:
                    key = (task, split, sequence.subject)
                    totals[key] = totals.get(key, 0.0) + outputs[:, layout.outputs[task]]
    tables = []
    for split in ("validation", "test"):
        for sequence in sequences[split]:
            faceless = not sequence.face_found.any()
            if faceless:  # nothing to interpolate from: the training prior, not the model's output on no input
                log.warning(
                    "%s video %s: no face in any of its %d frames; predicting the training prior",
                    split,
                    sequence.subject,
                    len(sequence.frames),
                )
            parts = [
                prediction_table(
                    task,
                    sequence.subject,
                    split,
                    sequence.frames,
                    sequence.face_found,
                    np.tile(priors[task], (len(sequence.frames), 1))
                    if faceless
                    else totals[(task, split, sequence.subject)] / len(snakemake.input.models),
                )
                for task in tasks
            ]
            tables.append(pl.concat([parts[0], *(p.drop(KEYS) for p in parts[1:])], how="horizontal"))
    table = pl.concat(tables)
    for task in tasks:
        table = postprocess(task, table, snakemake.params.postprocess, labels[task])
    write_parquet(table, snakemake.output[0])


run(snakemake, main)  # noqa: F821

"""Rule train_temporal_model: one run (fold, seed) of one experiment's model for its task or tasks."""

import logging

import polars as pl

from abawflow.core import execution
from abawflow.core.devices import resolve_device
from abawflow.core.rule_runner import run
from abawflow.training.checkpoints import TrainingFiles
from abawflow.training.feature_matrix import FeatureStore
from abawflow.training.sequences import build_sequences
from abawflow.training.temporal import fold_sequences, train

log = logging.getLogger("abawflow.train")


def main(snakemake):
    settings = execution.settings(snakemake.config)
    tasks = snakemake.params.tasks
    recipe = snakemake.params.recipe
    device = resolve_device(settings.device)
    labels = {task: pl.read_parquet(path) for task, path in zip(tasks, snakemake.input.labels, strict=True)}
    splits = pl.read_parquet(snakemake.input.splits)
    store = FeatureStore.open(list(snakemake.input.matrices), settings.feature_memory_bytes, device)
    sequences = build_sequences(list(snakemake.input.features), store, labels, splits, tasks)
    if recipe["folds"] > 1:
        sequences["train"], sequences["validation"] = fold_sequences(
            sequences["train"], recipe["folds"], recipe["fold"]
        )
        log.info(
            "fold %d of %d: %d training videos, %d held out for validation: %s",
            recipe["fold"],
            recipe["folds"],
            len(sequences["train"]),
            len(sequences["validation"]),
            ", ".join(s.subject for s in sequences["validation"]),
        )
    # Per-epoch state, so that a killed job resumes; it belongs to these exact inputs and settings.
    key_settings = [snakemake.params.model, recipe, snakemake.params.code]
    files = TrainingFiles(snakemake.output.model, "training_state.pt", key_settings, snakemake.input)
    model, history = train(tasks, sequences, snakemake.params.model, recipe, device, files.state_path, files.resume_key)
    checkpoint = {
        "tasks": tasks,
        "experiment": snakemake.wildcards.experiment,
        "state_dict": model.state_dict(),
        "input_widths": list(store.widths),
        "model": snakemake.params.model,
        "recipe": recipe,
    }
    files.finish(checkpoint, history, snakemake.output.history)


run(snakemake, main)  # noqa: F821

"""Rule predict: one experiment's per-frame predictions of one task for its validation and test videos."""

import sys
from pathlib import Path

# Import abawflow and models from this repository (Snakemake puts only workflow_scripts/ on the path).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

import polars as pl
import torch

from abawflow.atomic import write_parquet
from abawflow.devices import resolve_device
from abawflow.rule_runner import run
from abawflow.sequences import build_sequences
from abawflow.submission import prediction_table
from abawflow.training import build_model, predict_sequence


def main(snakemake):
    task = snakemake.wildcards.task
    device = resolve_device(snakemake.params.device)
    checkpoint = torch.load(snakemake.input.model, map_location=device, weights_only=True)
    model = build_model(task, checkpoint["input_widths"], checkpoint["model"]).to(device)
    model.load_state_dict(checkpoint["state_dict"])
    sequences = build_sequences(
        list(snakemake.input.features),
        pl.read_parquet(snakemake.input.labels),
        pl.read_parquet(snakemake.input.splits),
        task,
    )
    windows = snakemake.params.windows
    tables = []
    for split in ("validation", "test"):
        for sequence in sequences[split]:
            values = predict_sequence(task, model, sequence, windows["window"], windows["stride"], device)
            tables.append(prediction_table(task, sequence.subject, split, sequence.frames, sequence.face_found, values))
    write_parquet(pl.concat(tables), snakemake.output[0])


run(snakemake, main)  # noqa: F821

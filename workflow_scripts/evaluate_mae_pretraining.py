"""Rule evaluate_mae_pretraining: whether an MAE pre-training learned. A linear probe of the frozen features
from the starting weights and from the pre-trained ones, per task, and the report's figure: the reconstruction
loss per epoch and validation faces masked and rebuilt by the pre-trained autoencoder."""

import logging

import polars as pl
import torch

from abawflow.core import execution
from abawflow.core.atomic import write_csv
from abawflow.core.devices import resolve_device
from abawflow.core.rule_runner import run
from abawflow.report.figures import mae_pretraining
from abawflow.stage_one.feature_stage import preprocess
from abawflow.training.linear_probe import linear_probe, probe_sets
from abawflow.training.mae_pretraining import read_face_crops, start_encoder, trained_autoencoder

log = logging.getLogger("abawflow.training.linear_probe")

FIGURE_FACES = 6
ONE_PER_VIDEO = 1 << 62  # every n-th face frame of a video: its first only


def main(snakemake):
    spec, name, tasks = snakemake.params.backbone, snakemake.wildcards.backbone, snakemake.params.probe_tasks
    device = resolve_device(execution.settings(snakemake.config).device)
    faces = list(snakemake.input.faces)
    splits = pl.read_parquet(snakemake.input.splits)
    model = trained_autoencoder(name, spec, torch.load(snakemake.input.weights, map_location="cpu", weights_only=True))
    encoders = (("start", start_encoder(name, spec).to(device)), ("pre-trained", model.encoder.to(device)))
    rows, probe = [], None
    for task, labels_path in zip(tasks, snakemake.input.probe_labels, strict=True):
        sets = probe_sets(faces, pl.read_parquet(labels_path), splits, task, spec["mae"]["probe_frames"])
        frames = (len(sets["train"][0]), len(sets["validation"][0]))
        for weights, encoder in encoders:
            score, penalty = linear_probe(encoder, spec, sets, task, device)
            rows.append(
                {
                    "weights": weights,
                    "task": task,
                    "score": score,
                    "ridge_penalty": penalty,
                    "train_frames": frames[0],
                    "validation_frames": frames[1],
                }
            )
        log.info(
            "linear probe of the frozen features, %s validation score (%d + %d frames): %.4f from the starting "
            "weights, %.4f after pre-training",
            task.upper(),
            *frames,
            rows[-2]["score"],
            rows[-1]["score"],
        )
        probe = probe or (task, rows[-2]["score"], rows[-1]["score"])
    schema = {
        "weights": pl.String,
        "task": pl.String,
        "score": pl.Float64,
        "ridge_penalty": pl.Float64,
        "train_frames": pl.Int64,
        "validation_frames": pl.Int64,
    }
    write_csv(pl.DataFrame(rows, schema=schema), snakemake.output.probe)
    # One face of each of up to six validation videos, which the pre-training never read.
    held_out = splits.filter(pl.col("split") == "validation")["subject"].unique().sort().to_list()[:FIGURE_FACES]
    crops = read_face_crops(faces, held_out, every=ONE_PER_VIDEO)
    images = preprocess(crops, spec["input_size"], spec["mean"], spec["std"], spec.get("channels", "rgb"))
    history = pl.read_csv(snakemake.input.history)
    mae_pretraining(model.cpu(), images, spec["mean"], spec["std"], history, snakemake.output.figure, name, probe)


run(snakemake, main)  # noqa: F821

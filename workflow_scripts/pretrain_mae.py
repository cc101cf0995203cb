"""Rule pretrain_mae: a timm ViT pre-trained as a masked autoencoder on the training videos' face crops."""

import logging

import polars as pl

from abawflow.core import execution
from abawflow.core.devices import resolve_device
from abawflow.core.rule_runner import run
from abawflow.report.figures import mae_pretraining
from abawflow.stage_one.feature_stage import preprocess
from abawflow.training.checkpoints import TrainingFiles
from abawflow.training.linear_probe import linear_probe, probe_sets
from abawflow.training.mae_pretraining import pretrain_mae, read_face_crops
from models.backbones import create_backbone, vit_start_state

log = logging.getLogger("abawflow.training.mae_pretraining")

FIGURE_FACES = 6
ONE_PER_VIDEO = 1 << 62  # every n-th face frame of a video, so only its first


def main(snakemake):
    spec = snakemake.params.backbone
    recipe = spec["mae"]
    device = resolve_device(execution.settings(snakemake.config).device)
    name, start = snakemake.wildcards.backbone, recipe.get("start_from")
    encoder = create_backbone(spec["architecture"], None, True, name, spec["model_options"], spec["seed"], bool(start))
    if start:
        encoder.load_state_dict(vit_start_state(encoder, start))
        log.info("backbone %s: MAE pre-training starts from %s", name, start)
    # Self-supervised, but on training videos only: validation and test faces stay unseen.
    splits = pl.read_parquet(snakemake.input.splits)
    subjects = splits.filter(pl.col("split") == "train")["subject"].unique().sort().to_list()
    crops = read_face_crops(list(snakemake.input.faces), subjects, recipe["every"])
    # A linear probe of the frozen features before and after: evidence that the pre-training taught them.
    task, probe = snakemake.params.probe_task, None
    if task:
        labels = pl.read_parquet(snakemake.input.probe_labels[0])
        sets = probe_sets(list(snakemake.input.faces), labels, splits, task, recipe["probe_frames"])
        probe = (task, linear_probe(encoder.to(device), spec, sets, task, device))
    # Per-epoch state beside the output, so that a killed job resumes; it belongs to these inputs and settings.
    files = TrainingFiles(snakemake.output.weights, "mae_state.pt", [spec, snakemake.params.code], snakemake.input)
    model, history = pretrain_mae(encoder, spec, crops, recipe, device, files.state_path, files.resume_key)
    if probe:
        probe = (*probe, linear_probe(model.encoder, spec, sets, task, device))
        log.info(
            "linear probe of the frozen features, %s validation score (%d + %d frames): %.4f from the starting "
            "weights, %.4f after pre-training",
            task.upper(),
            len(sets["train"][0]),
            len(sets["validation"][0]),
            probe[1],
            probe[2],
        )
    state = model.encoder.state_dict()
    files.finish(
        {"kind": "mae", "architecture": spec["architecture"], "state_dict": state}, history, snakemake.output.history
    )
    # The report's evidence: the first face of up to six validation videos, masked and rebuilt.
    held_out = splits.filter(pl.col("split") == "validation")["subject"].unique().sort().to_list()[:FIGURE_FACES]
    faces = read_face_crops(list(snakemake.input.faces), held_out, every=ONE_PER_VIDEO) or crops[:FIGURE_FACES]
    images = preprocess(faces, spec["input_size"], spec["mean"], spec["std"], spec.get("channels", "rgb"))
    mae_pretraining(
        model.cpu(),
        images,
        spec["mean"],
        spec["std"],
        pl.read_csv(snakemake.output.history),
        snakemake.output.figure,
        name,
        probe,
    )


run(snakemake, main)  # noqa: F821

"""Rule pretrain_mae: a timm ViT pre-trained as a masked autoencoder on the training videos' face crops."""

import logging

import polars as pl

from abawflow.core import execution
from abawflow.core.devices import resolve_device
from abawflow.core.rule_runner import run
from abawflow.training.checkpoints import TrainingFiles
from abawflow.training.mae_pretraining import pretrain_mae, read_face_crops
from models.backbones import create_backbone, vit_start_state

log = logging.getLogger("abawflow.training.mae_pretraining")


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
    subjects = pl.read_parquet(snakemake.input.splits).filter(pl.col("split") == "train")["subject"].unique()
    crops = read_face_crops(list(snakemake.input.faces), subjects.to_list(), recipe["every"])
    # Per-epoch state beside the output, so that a killed job resumes; it belongs to these inputs and settings.
    files = TrainingFiles(snakemake.output.weights, "mae_state.pt", [spec, snakemake.params.code], snakemake.input)
    state, history = pretrain_mae(encoder, spec, crops, recipe, device, files.state_path, files.resume_key)
    files.finish(
        {"kind": "mae", "architecture": spec["architecture"], "state_dict": state}, history, snakemake.output.history
    )


run(snakemake, main)  # noqa: F821

"""Rule pretrain_mae: a timm ViT pre-trained as a masked autoencoder on the training videos' face crops."""

import polars as pl

from abawflow.core import execution
from abawflow.core.devices import resolve_device
from abawflow.core.rule_runner import run
from abawflow.training.checkpoints import TrainingFiles
from abawflow.training.mae_pretraining import pretrain_mae, read_face_crops
from models.backbones import create_backbone


def main(snakemake):
    spec = snakemake.params.backbone
    recipe = spec["mae"]
    device = resolve_device(execution.settings(snakemake.config).device)
    encoder = create_backbone(
        spec["architecture"], None, True, snakemake.wildcards.backbone, spec["model_options"], spec["seed"]
    )
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

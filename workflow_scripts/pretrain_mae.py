"""Rule pretrain_mae: a timm ViT pre-trained as a masked autoencoder on the training videos' face crops."""

from pathlib import Path

import polars as pl
import torch

from abawflow.core import execution
from abawflow.core.atomic import atomic_path
from abawflow.core.devices import resolve_device
from abawflow.core.rule_runner import run
from abawflow.training.loop import resume_key
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
    state_path = Path(snakemake.output.weights).with_name("mae_state.pt")
    key = resume_key([spec, snakemake.params.code], snakemake.input)
    state, history = pretrain_mae(encoder, spec, crops, recipe, device, state_path, key)
    with atomic_path(snakemake.output.weights) as temporary:
        torch.save({"kind": "mae", "architecture": spec["architecture"], "state_dict": state}, temporary)
    with atomic_path(snakemake.output.history) as temporary:
        pl.DataFrame(history).write_csv(temporary)
    state_path.unlink(missing_ok=True)


run(snakemake, main)  # noqa: F821

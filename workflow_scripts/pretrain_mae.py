"""Rule pretrain_mae: a timm ViT pre-trained as a masked autoencoder on the training videos' face crops."""

import sys
from pathlib import Path

# Import abawflow and models from this repository (Snakemake puts only workflow_scripts/ on the path).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

import polars as pl
import torch

from abawflow.atomic import atomic_path
from abawflow.devices import resolve_device
from abawflow.mae_pretraining import pretrain_mae, read_face_crops
from abawflow.rule_runner import run
from models.backbones import create_backbone


def main(snakemake):
    spec = snakemake.params.backbone
    recipe = spec["mae"]
    device = resolve_device(snakemake.params.device)
    encoder = create_backbone(
        spec["architecture"], None, True, snakemake.wildcards.backbone, spec["model_options"], spec["seed"]
    )
    # Self-supervised, but on training videos only: validation and test faces stay unseen.
    subjects = pl.read_parquet(snakemake.input.splits).filter(pl.col("split") == "train")["subject"].unique()
    crops = read_face_crops(list(snakemake.input.faces), subjects.to_list(), recipe["every"])
    state, history = pretrain_mae(encoder, spec, crops, recipe, device)
    with atomic_path(snakemake.output.weights) as temporary:
        torch.save({"kind": "mae", "architecture": spec["architecture"], "state_dict": state}, temporary)
    with atomic_path(snakemake.output.history) as temporary:
        pl.DataFrame(history).write_csv(temporary)


run(snakemake, main)  # noqa: F821

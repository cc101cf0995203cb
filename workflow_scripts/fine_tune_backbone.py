"""Rule fine_tune_backbone: a backbone fine-tuned on the aligned training frames of one task."""

import polars as pl
import torch

from abawflow import execution
from abawflow.atomic import atomic_path
from abawflow.devices import resolve_device
from abawflow.fine_tuning import fine_tune, read_labelled_crops
from abawflow.rule_runner import run
from models.backbones import build_backbone


def main(snakemake):
    task, recipe = snakemake.params.task, snakemake.params.recipe
    base = dict(snakemake.params.base)
    name = base.pop("name")
    device = resolve_device(execution.device(snakemake.config))
    backbone = build_backbone(name, base, device)
    labels = pl.read_parquet(snakemake.input.labels)
    splits = pl.read_parquet(snakemake.input.splits).filter(pl.col("task") == task)
    data = {}
    for split in ("train", "validation"):
        subjects = splits.filter(pl.col("split") == split)["subject"].to_list()
        data[split] = read_labelled_crops(list(snakemake.input.faces), labels, subjects, recipe["every"])
    state, history = fine_tune(backbone, base, task, data["train"], data["validation"], recipe, device)
    with atomic_path(snakemake.output.weights) as temporary:
        torch.save(
            {"kind": "fine_tuned", "base": name, "task": task, "width": base["output_width"], "state_dict": state},
            temporary,
        )
    with atomic_path(snakemake.output.history) as temporary:
        pl.DataFrame(history).write_csv(temporary)


run(snakemake, main)  # noqa: F821

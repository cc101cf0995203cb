"""Rule fine_tune_backbone: a backbone fine-tuned on the aligned training frames of one task."""

from pathlib import Path

import polars as pl
import torch

from abawflow.core import execution
from abawflow.core.atomic import atomic_path
from abawflow.core.devices import resolve_device
from abawflow.core.rule_runner import run
from abawflow.training.fine_tuning import fine_tune, read_labelled_crops
from abawflow.training.loop import resume_key
from models.backbones import build_backbone


def main(snakemake):
    task, recipe = snakemake.params.task, snakemake.params.recipe
    base = dict(snakemake.params.base)
    name = base.pop("name")
    device = resolve_device(execution.settings(snakemake.config).device)
    backbone = build_backbone(name, base, device)
    labels = pl.read_parquet(snakemake.input.labels)
    splits = pl.read_parquet(snakemake.input.splits).filter(pl.col("task") == task)
    data = {}
    for split in ("train", "validation"):
        subjects = splits.filter(pl.col("split") == split)["subject"].to_list()
        data[split] = read_labelled_crops(list(snakemake.input.faces), labels, subjects, recipe["every"])
    # Per-epoch state beside the output, so that a killed job resumes; it belongs to these inputs and settings.
    state_path = Path(snakemake.output.weights).with_name("fine_tuning_state.pt")
    key = resume_key([dict(snakemake.params.base), task, recipe, snakemake.params.code], snakemake.input)
    state, history = fine_tune(backbone, base, task, data["train"], data["validation"], recipe, device, state_path, key)
    with atomic_path(snakemake.output.weights) as temporary:
        torch.save(
            {"kind": "fine_tuned", "base": name, "task": task, "width": base["output_width"], "state_dict": state},
            temporary,
        )
    with atomic_path(snakemake.output.history) as temporary:
        pl.DataFrame(history).write_csv(temporary)
    state_path.unlink(missing_ok=True)


run(snakemake, main)  # noqa: F821

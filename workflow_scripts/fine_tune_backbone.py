"""Rule fine_tune_backbone: a backbone fine-tuned on the aligned training frames of one task."""

import polars as pl

from abawflow.core import execution
from abawflow.core.devices import resolve_device
from abawflow.core.rule_runner import run
from abawflow.training.checkpoints import TrainingFiles
from abawflow.training.fine_tuning import fine_tune, read_labelled_crops
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
    files = TrainingFiles(
        snakemake.output.weights,
        "fine_tuning_state.pt",
        [dict(snakemake.params.base), task, recipe, snakemake.params.code],
        snakemake.input,
    )
    state, history = fine_tune(
        backbone, base, task, data["train"], data["validation"], recipe, device, files.state_path, files.resume_key
    )
    checkpoint = {"kind": "fine_tuned", "base": name, "task": task, "width": base["output_width"], "state_dict": state}
    files.finish(checkpoint, history, snakemake.output.history)


run(snakemake, main)  # noqa: F821

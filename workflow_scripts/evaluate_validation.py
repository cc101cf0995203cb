"""Rule evaluate_validation: challenge metrics of every trained (task, experiment) on the validation set."""

import sys
from pathlib import Path

# Import abawflow and models from this repository (Snakemake puts only workflow_scripts/ on the path).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

import logging

import polars as pl

from abawflow.atomic import atomic_path
from abawflow.rule_runner import run
from abawflow.submission import output_columns
from abawflow.tasks import get_task
from abawflow.training import score_outputs

log = logging.getLogger("abawflow.evaluate")


def main(snakemake):
    rows = []
    for (task, experiment), predictions_path, labels_path in zip(
        snakemake.params.trained, snakemake.input.predictions, snakemake.input.labels, strict=True
    ):
        spec = get_task(task)
        predictions = pl.read_parquet(predictions_path).filter(pl.col("split") == "validation")
        labels = pl.read_parquet(labels_path).filter(pl.col("annotated"))
        # Inner join on (subject, frame): annotation lines past the video's end have no prediction (see sequences.py).
        joined = labels.join(predictions, on=["subject", "frame"], how="inner")
        scores = score_outputs(
            task, joined.select(spec.label_columns).to_numpy(), joined.select(output_columns(task)).to_numpy()
        )
        for metric, value in scores.items():
            rows.append(
                {
                    "task": task,
                    "experiment": experiment,
                    "metric": metric,
                    "value": value,
                    "frames": len(joined),
                    "videos": joined["subject"].n_unique(),
                }
            )
            log.info("%s %s %s = %.4f (%d frames)", task.upper(), experiment, metric, value, len(joined))
    with atomic_path(snakemake.output[0]) as temporary:
        pl.DataFrame(rows).write_csv(temporary, float_precision=4)


run(snakemake, main)  # noqa: F821

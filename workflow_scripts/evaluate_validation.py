"""Rule evaluate_validation: challenge metrics of every trained (task, experiment) on the validation set."""

import logging

import polars as pl

from abawflow.atomic import atomic_path, write_text
from abawflow.metrics import markdown_table
from abawflow.rule_runner import run
from abawflow.submission import output_columns, table_thresholds
from abawflow.tasks import get_task, score_outputs

log = logging.getLogger("abawflow.evaluate")


def main(snakemake):
    # Each task's labels are read once, whatever the number of experiments scored on them.
    annotated = {
        task: pl.read_parquet(path).filter(pl.col("annotated"))
        for task, path in zip(snakemake.params.tasks, snakemake.input.labels, strict=True)
    }
    rows = []
    for (task, experiment), predictions_path in zip(snakemake.params.trained, snakemake.input.predictions, strict=True):
        spec = get_task(task)
        predictions = pl.read_parquet(predictions_path).filter(pl.col("split") == "validation")
        # Inner join on (subject, frame): annotation lines past the video's end have no prediction (see sequences.py).
        joined = annotated[task].join(predictions, on=["subject", "frame"], how="inner")
        scores = score_outputs(
            task,
            joined.select(spec.label_columns).to_numpy(),
            joined.select(output_columns(task)).to_numpy(),
            table_thresholds(task, predictions),
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
    scores = pl.DataFrame(rows)
    with atomic_path(snakemake.output.scores) as temporary:
        scores.write_csv(temporary, float_precision=4)
    for task, csv_path, markdown_path in zip(
        snakemake.params.tasks, snakemake.output.tables_csv, snakemake.output.tables_markdown, strict=True
    ):
        table = task_table(scores, task)
        with atomic_path(csv_path) as temporary:
            table.write_csv(temporary, float_precision=4)
        title = f"Validation scores, {task.upper()} (the submitted experiment is marked *)"
        write_text(markdown_path, markdown_table(table, title, snakemake.params.submitted[task]))


def task_table(scores, task):
    """One row per experiment, one column per metric, in config order (like the papers' Table 1)."""
    rows = scores.filter(pl.col("task") == task)
    metrics = rows["metric"].unique(maintain_order=True).to_list()
    table = rows.pivot(on="metric", index=["experiment", "frames", "videos"], values="value")
    return table.select("experiment", *metrics, "frames", "videos")


run(snakemake, main)  # noqa: F821

"""Rule evaluate_mtl: the MTL challenge's metrics of every MTL experiment on the s-Aff-Wild2 validation set."""

import logging

import polars as pl

from abawflow.atomic import atomic_path, write_text
from abawflow.metrics import markdown_table
from abawflow.mtl import mtl_score
from abawflow.rule_runner import run
from abawflow.submission import output_columns, table_thresholds
from abawflow.tasks import get_task, score_outputs

log = logging.getLogger("abawflow.evaluate_mtl")


def main(snakemake):
    annotated = {
        task: pl.read_parquet(path).filter(pl.col("annotated"))
        for task, path in zip(snakemake.params.tasks, snakemake.input.labels, strict=True)
    }
    rows = []
    for experiment, path in zip(snakemake.params.experiments, snakemake.input.predictions, strict=True):
        predictions = pl.read_parquet(path).filter(pl.col("split") == "validation")
        scores, images = {}, 0
        for task, labels in annotated.items():
            spec = get_task(task)
            joined = labels.join(predictions, on=["subject", "frame"], how="inner")
            if joined.height < labels.filter(pl.col("subject").is_in(predictions["subject"].unique())).height:
                raise ValueError(f"{path}: some annotated {task.upper()} validation images have no prediction")
            scores[task] = score_outputs(
                task,
                joined.select(spec.label_columns).to_numpy(),
                joined.select(output_columns(task)).to_numpy(),
                table_thresholds(task, predictions),
            )
            images = max(images, joined.height)
        row = {
            "experiment": experiment,
            "ccc_valence": scores["va"]["ccc_valence"],
            "ccc_arousal": scores["va"]["ccc_arousal"],
            "va": scores["va"]["score"],
            "f1_expr": scores["expr"]["score"],
            "f1_au": scores["au"]["score"],
            "mtl": mtl_score(scores),
            "images": predictions.height,
        }
        log.info("MTL %s: %s", experiment, ", ".join(f"{k}={v:.4f}" for k, v in row.items() if isinstance(v, float)))
        rows.append(row)
    table = pl.DataFrame(rows)
    with atomic_path(snakemake.output.csv) as temporary:
        table.write_csv(temporary, float_precision=4)
    title = (
        "MTL challenge, s-Aff-Wild2 validation: (CCC_V + CCC_A) / 2 + F1_EXPR + F1_AU "
        "(the submitted experiment is marked *)"
    )
    write_text(snakemake.output.markdown, markdown_table(table, title, snakemake.params.submitted))


run(snakemake, main)  # noqa: F821

"""Rule evaluate_validation: every challenge's metrics of every scored experiment and ensemble on the
validation set: results/metrics/validation.csv (long) and one table per challenge."""

import logging

import polars as pl

from abawflow.challenges.registry import get_challenge
from abawflow.core.atomic import atomic_path, write_text
from abawflow.core.rule_runner import run
from abawflow.plan import paths
from abawflow.tasks.metrics import markdown_table

log = logging.getLogger("abawflow.evaluate")

TITLES = {
    "mtl": "MTL challenge, s-Aff-Wild2 validation: (CCC_V + CCC_A) / 2 + F1_EXPR + F1_AU",
    "eri": "ERI challenge, Hume-Reaction validation: mean over the seven emotions of Pearson's r across videos "
    "(inputs: A audio, V faces, AV the audio-visual interaction encoder; paper 002, Table 1)",
}


def main(snakemake):
    # Each label table is read once, whatever the number of experiments scored on it.
    annotated = {
        path: pl.read_parquet(path).filter(pl.col("annotated")) for path in dict.fromkeys(snakemake.input.labels)
    }
    rows = []
    for (name, experiment), path in zip(snakemake.params.scored, snakemake.input.predictions, strict=True):
        challenge = get_challenge(name)
        labels = {task: annotated[paths.labels(challenge.dataset, task)] for task in challenge.tasks}
        predictions = pl.read_parquet(path).filter(pl.col("split") == "validation")
        scores, frames, videos = challenge.score(labels, predictions, path)
        for metric, value in scores.items():
            rows.append(
                {
                    "task": name,
                    "experiment": experiment,
                    "metric": metric,
                    "value": value,
                    "frames": frames,
                    "videos": videos,
                }
            )
            log.info("%s %s %s = %.4f (%d frames)", name.upper(), experiment, metric, value, frames)
    scores = pl.DataFrame(rows)
    with atomic_path(snakemake.output.scores) as temporary:
        scores.write_csv(temporary, float_precision=4)
    for name, csv_path, markdown_path in zip(
        snakemake.params.challenges, snakemake.output.tables_csv, snakemake.output.tables_markdown, strict=True
    ):
        table = challenge_table(scores, name, snakemake.params.inputs)
        with atomic_path(csv_path) as temporary:
            table.write_csv(temporary, float_precision=4)
        title = f"{TITLES.get(name, f'Validation scores, {name.upper()}')} (the submitted experiment is marked *)"
        write_text(markdown_path, markdown_table(table, title, snakemake.params.submitted[name]))


def challenge_table(scores, name, inputs):
    """One row per experiment, what it fuses, one column per metric, in plan order (like the papers' Table 1)."""
    rows = scores.filter(pl.col("task") == name)
    metrics = rows["metric"].unique(maintain_order=True).to_list()
    table = rows.pivot(on="metric", index=["experiment", "frames", "videos"], values="value")
    table = table.with_columns(pl.col("experiment").replace_strict(inputs, return_dtype=pl.String).alias("inputs"))
    return table.select("experiment", "inputs", *metrics, "frames", "videos")


run(snakemake, main)  # noqa: F821

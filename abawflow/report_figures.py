"""Figures and tables of the run report (``snakemake --report``): learning curves, face-detection rates and the
score tables, drawn from the pipeline's own outputs; the validation figures are in validation_figures.py."""

import html
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on a cluster node
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

from abawflow.atomic import atomic_path, write_text  # noqa: E402

RUN_FOLDER = re.compile(r"models/[^/]+/(?P<target>[^/]+)/fold(?P<fold>\d+)_seed(?P<seed>\d+)/history\.csv$")


def save(figure, path):
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format=Path(path).suffix.lstrip("."), dpi=110)
    plt.close(figure)


def run_label(path):
    match = RUN_FOLDER.search(str(path))
    return f"{match['target']} fold {match['fold']} seed {match['seed']}" if match else str(path)


def learning_curves(history_paths, output, experiment):
    """Training loss and validation score per epoch of every run (target, fold, seed) of one experiment."""
    figure, (loss_axis, score_axis) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    for path in history_paths:
        history = pl.read_csv(path)
        label = run_label(path)
        loss_axis.plot(history["epoch"], history["train_loss"], marker=".", label=label)
        if "validation_score" in history.columns:
            score_axis.plot(history["epoch"], history["validation_score"], marker=".", label=label)
    loss_axis.set(title=f"{experiment}: training loss", xlabel="epoch", ylabel="loss")
    score_axis.set(title=f"{experiment}: validation score", xlabel="epoch", ylabel="score")
    score_axis.legend(fontsize=7)
    save(figure, output)


def face_detection_rates(face_tables, output, dataset):
    """Share of each person-video's frames with a face (from the face tables)."""
    frames = pl.concat([pl.read_parquet(path, columns=["subject", "face_found"]) for path in face_tables])
    rates = (
        frames.group_by("subject")
        .agg(pl.len().alias("frames"), pl.col("face_found").mean().alias("rate"))
        .sort("subject")
    )
    figure, axis = plt.subplots(figsize=(max(6, 0.35 * rates.height), 3.6), layout="constrained")
    axis.bar(range(rates.height), rates["rate"].to_numpy(), color="tab:green")
    axis.set_xticks(range(rates.height), rates["subject"].to_list(), rotation=90, fontsize=7)
    axis.set_ylim(0, 1.02)
    total = int(frames["face_found"].sum())
    axis.set_title(f"{dataset}: frames with a face, per person-video ({total} of {frames.height} frames)")
    save(figure, output)


def score_table_html(csv_path, output, title):
    """A score table (results/metrics/<challenge>.csv) as a small HTML page for the report."""
    table = pl.read_csv(csv_path)
    header = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{v:.4f}</td>" if isinstance(v, float) else f"<td>{html.escape(str(v))}</td>" for v in row)
        + "</tr>"
        for row in table.iter_rows()
    )
    style = (
        "body{font-family:sans-serif;font-size:14px}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}"
    )
    write_text(
        output,
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h3>{html.escape(title)}</h3>"
        f"<table><tr>{header}</tr>{body}</table></body></html>\n",
    )

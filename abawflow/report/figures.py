"""Figures and tables of the run report (``snakemake --report``): learning curves, face-detection rates and the
score tables, drawn from the pipeline's own outputs; the validation figures are in validation_figures.py."""

import html
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on a cluster node
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

from abawflow.core.atomic import atomic_path, write_text  # noqa: E402

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


def mae_pretraining(model, images, mean, std, history, output, backbone, probe=None):
    """Evidence that an MAE pre-training learned (paper 003): its reconstruction loss per epoch, and held-out
    face crops as the decoder sees and rebuilds them: original, the 25 % of patches it sees, its
    reconstruction with the visible patches pasted back (as He et al. show them). ``images``: normalised
    (n, channels, H, W) crops of validation videos, which the pre-training never read; ``probe``: (task,
    score before, score after) of the linear probe, written above the curve."""
    import torch

    channels = images.shape[1]
    torch.manual_seed(0)  # the same masks in every run
    model.eval()
    with torch.no_grad():
        _, predicted, mask = model(images)
    hidden = mask[..., None].expand(-1, -1, predicted.shape[-1])
    patches = model.patchify(images)
    rows = {
        "original": images,
        "visible patches": model.unpatchify(patches * (1 - hidden), channels),
        "reconstruction": model.unpatchify(torch.where(hidden.bool(), predicted, patches), channels),
    }
    scale = torch.tensor(std).view(1, -1, 1, 1)
    shift = torch.tensor(mean).view(1, -1, 1, 1)
    figure = plt.figure(figsize=(3 + 1.3 * len(images), 4.2), layout="constrained")
    grid = figure.add_gridspec(3, len(images) + 2)
    curve = figure.add_subplot(grid[:, :2])
    curve.plot(history["epoch"], history["reconstruction_loss"], marker=".")
    title = f"{backbone}: reconstruction loss"
    if probe:
        task, before, after = probe
        title += f"\nlinear probe, {task.upper()} validation:\n{before:.3f} before, {after:.3f} after"
    curve.set(title=title, xlabel="epoch", ylabel="MSE on hidden patches")
    for row, (name, batch) in enumerate(rows.items()):
        pictures = (batch * scale + shift).clamp(0, 1).permute(0, 2, 3, 1).numpy()
        for column, picture in enumerate(pictures):
            axis = figure.add_subplot(grid[row, column + 2])
            axis.imshow(picture[..., 0] if channels == 1 else picture, cmap="gray", vmin=0, vmax=1)
            axis.set_xticks([]), axis.set_yticks([])
            if column == 0:
                axis.set_ylabel(name, fontsize=8)
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


def html_table(columns, rows, output, title, sections=()):
    """A table as a small self-contained HTML page for the report (floats to 4 decimals); ``sections``:
    (heading, columns, rows) of further tables below it."""

    def cell(value):
        if value is None:
            return "<td></td>"
        return f"<td>{value:.4f}</td>" if isinstance(value, float) else f"<td>{html.escape(str(value))}</td>"

    def table(columns, rows):
        header = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
        return f"<table><tr>{header}</tr>{body}</table>"

    style = (
        "body{font-family:sans-serif;font-size:14px}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}"
    )
    below = "".join(f"<h4>{html.escape(heading)}</h4>{table(*part)}" for heading, *part in sections)
    write_text(
        output,
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h3>{html.escape(title)}</h3>"
        f"{table(columns, rows)}{below}</body></html>\n",
    )


def score_table_html(csv_path, output, title, submitted, ensemble_weights=None):
    """A score table (results/metrics/<challenge>.csv) as a small HTML page for the report, the submitted
    entry's name marked; below it the weights of each ensemble (``ensemble_weights``: name -> its weights
    table, results/metrics/ensemble_weights/<challenge>/<name>.csv)."""
    table = pl.read_csv(csv_path)
    rows = [(f"{row[0]} (submitted)" if row[0] == submitted else row[0], *row[1:]) for row in table.iter_rows()]
    sections = []
    for name, path in (ensemble_weights or {}).items():
        weights = pl.read_csv(path)
        sections.append((f"Weights of {name}", weights.columns, weights.rows()))
    html_table(table.columns, rows, output, title, sections)


def rst_table(columns, rows):
    """A reStructuredText grid table (floats to 4 decimals)."""
    cells = [[f"{v:.4f}" if isinstance(v, float) else "" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(str(c)), *(len(row[k]) for row in cells)) for k, c in enumerate(columns)]

    def line(values):
        return "| " + " | ".join(value.ljust(width) for value, width in zip(values, widths, strict=True)) + " |"

    rule = "+" + "+".join("-" * (width + 2) for width in widths) + "+"
    return "\n".join([rule, line(columns), rule.replace("-", "="), *(x for row in cells for x in (line(row), rule))])


def report_description(score_tables, submitted, workflow_text):
    """The report's first page, in reStructuredText: each challenge's validation scores, the submitted entry
    marked, then the workflow's description. ``score_tables``: challenge -> results/metrics/<challenge>.csv."""
    parts = [
        "Validation scores of this run (the submitted entry of each challenge in bold; every metric under Scores)",
        "",
    ]
    for challenge, path in score_tables.items():
        table = pl.read_csv(path)
        metrics = [c for c in table.columns if c not in ("experiment", "inputs", "score", "frames", "videos")]
        # A narrow table beside the DAG: the challenge's own metrics where they are few, its score always.
        table = table.select("experiment", "inputs", *(metrics if len(metrics) <= 2 else []), "score")
        rows = [(f"**{row[0]}**" if row[0] == submitted[challenge] else row[0], *row[1:]) for row in table.iter_rows()]
        parts += [f"**{challenge.upper()}**: submitted {submitted[challenge]}", "", rst_table(table.columns, rows), ""]
    return "\n".join([*parts, workflow_text.strip(), ""])


SPLIT_JOB = re.compile(r"^(shard\d+of\d+|fold\d+_seed\d+)$")  # a job among several of one rule and input


def benchmark_group(path):
    """logs/benchmarks/<rule>/<what...>.tsv -> (rule, what it ran on): shards and runs of one input together."""
    parts = Path(path).with_suffix("").parts
    start = parts.index("benchmarks") + 1
    rule, rest = parts[start], list(parts[start + 1 :])
    if rest and SPLIT_JOB.match(rest[-1]):
        rest = rest[:-1]
    return rule, "/".join(rest)


def read_benchmark(path):
    """Seconds and peak resident memory (MB, or None where not measured) of one benchmark file."""
    row = pl.read_csv(path, separator="\t", infer_schema=False).row(0, named=True)

    def number(key):
        try:
            return float(row.get(key))
        except (TypeError, ValueError):
            return None

    return number("s") or 0.0, number("max_rss")


def runtime_table_html(benchmarks, tables, output):
    """Per rule and what it ran on: jobs, wall seconds (all, longest), peak memory, and the rows of its outputs per
    second (``tables``: benchmark file -> the table whose rows its job processed)."""
    import pyarrow.parquet as pq

    groups = {}
    for path in benchmarks:
        seconds, memory = read_benchmark(path)
        rows = pq.ParquetFile(tables[path]).metadata.num_rows if path in tables else None
        group = groups.setdefault(
            benchmark_group(path), {"jobs": 0, "seconds": 0.0, "longest": 0.0, "memory": None, "rows": None}
        )
        group["jobs"] += 1
        group["seconds"] += seconds
        group["longest"] = max(group["longest"], seconds)
        if memory is not None:
            group["memory"] = max(group["memory"] or 0.0, memory)
        if rows is not None:
            group["rows"] = (group["rows"] or 0) + rows
    columns = ["rule", "on", "jobs", "seconds", "longest job (s)", "peak memory (MB)", "rows", "rows/s"]
    body = [
        [
            rule,
            what,
            g["jobs"],
            f"{g['seconds']:.1f}",
            f"{g['longest']:.1f}",
            None if g["memory"] is None else round(g["memory"]),
            g["rows"],
            None if g["rows"] is None or not g["seconds"] else f"{g['rows'] / g['seconds']:.1f}",
        ]
        for (rule, what), g in sorted(groups.items())
    ]
    title = f"Runtimes of {len(benchmarks)} jobs" if benchmarks else "No job has a benchmark file yet"
    html_table(columns, body, output, title)

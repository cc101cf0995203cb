"""The timeline of one predicted video: per person, VA over time, EXPR probabilities (stacked) with the decided
class, AU probabilities as a heat map with the decisions outlined, and where a face was found."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from abawflow.report.figures import save  # noqa: E402
from abawflow.tasks.specs import get_task  # noqa: E402

ROW_HEIGHTS = {"faces": 0.5, "va": 2.0, "expr": 2.0, "au": 2.4}


def plot_timeline(table, bundle, output, title):
    """``table``: predictions.csv's table (abawflow.predict.video_prediction.frame_table)."""
    tasks = bundle.tasks
    subjects = table["subject"].unique(maintain_order=True).to_list()
    rows = [(subject, part) for subject in subjects for part in [*tasks, "faces"]]
    heights = [ROW_HEIGHTS[part] for _, part in rows]
    figure, axes = plt.subplots(
        len(rows),
        1,
        figsize=(11, sum(heights) + 0.6),
        sharex=True,
        layout="constrained",
        gridspec_kw={"height_ratios": heights},
    )
    axes = np.atleast_1d(axes)
    for axis, (subject, part) in zip(axes, rows, strict=True):
        person = table.filter(pl.col("subject") == subject).sort("frame")
        seconds = person["time_seconds"].to_numpy()
        DRAW[part](axis, person, seconds, bundle)
        axis.set_title(f"{subject}: {LABELS[part]}", fontsize=9, loc="left")
    axes[-1].set_xlabel("seconds")
    figure.suptitle(title, fontsize=10)
    save(figure, output)


def draw_va(axis, person, seconds, bundle):
    spec = get_task("va")
    for column, name in zip(spec.output_columns, spec.header, strict=True):
        # A clip of a frame or two has no line to draw: its points are marked.
        axis.plot(seconds, person[column].to_numpy(), label=name, linewidth=1, marker="o" if len(seconds) < 3 else None)
    axis.axhline(0, color="grey", linewidth=0.5)
    axis.set_ylim(-1.05, 1.05)
    axis.legend(fontsize=7, loc="upper right")


def draw_expr(axis, person, seconds, bundle):
    spec = get_task("expr")
    probabilities = person.select(spec.output_columns).to_numpy().T
    colours = plt.get_cmap("tab10").colors
    axis.stackplot(seconds, probabilities, labels=spec.header, colors=colours[: len(spec.header)], linewidth=0)
    decided = probabilities.argmax(axis=0)
    axis.scatter(seconds, np.full(len(seconds), 1.04), c=[colours[k] for k in decided], s=4, marker="s")
    axis.set_ylim(0, 1.08)
    axis.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))


def draw_au(axis, person, seconds, bundle):
    spec = get_task("au")
    probabilities = person.select(spec.output_columns).to_numpy().T
    extent = (seconds[0], seconds[-1] if len(seconds) > 1 else seconds[0] + 1, len(spec.header) - 0.5, -0.5)
    image = axis.imshow(
        probabilities, aspect="auto", vmin=0, vmax=1, cmap="magma", extent=extent, interpolation="nearest"
    )
    decided = person.select(list(spec.header)).to_numpy().T
    if decided.any() and decided.shape[1] == 1:  # one frame: no outline to trace, its decisions marked
        rows = np.flatnonzero(decided[:, 0])
        axis.scatter(
            np.full(len(rows), (extent[0] + extent[1]) / 2), rows, marker="s", facecolors="none", edgecolors="cyan"
        )
    elif decided.any():
        axis.contour(
            np.linspace(extent[0], extent[1], decided.shape[1]),
            np.arange(len(spec.header)),
            decided,
            levels=[0.5],
            colors="cyan",
            linewidths=0.6,
        )
    axis.set_yticks(range(len(spec.header)), spec.header, fontsize=6)
    axis.figure.colorbar(image, ax=axis, fraction=0.02, pad=0.01)


def draw_faces(axis, person, seconds, bundle):
    found = person["face_found"].to_numpy().astype(float)
    axis.fill_between(seconds, 0, found, step="mid", color="tab:green", linewidth=0)
    axis.set_ylim(0, 1)
    axis.set_yticks([])
    share = 100 * found.mean() if len(found) else 0.0
    axis.text(1.0, 0.5, f" {share:.0f}%", transform=axis.transAxes, va="center", fontsize=7)


DRAW = {"va": draw_va, "expr": draw_expr, "au": draw_au, "faces": draw_faces}
LABELS = {
    "va": "valence and arousal",
    "expr": "expression probabilities (squares: the decided class)",
    "au": "action-unit probabilities (outlined: decided present)",
    "faces": "face found",
}

"""The report's figures of the submitted models on the validation videos: VA over time, the EXPR confusion
matrix, per-AU F1 and thresholds."""

import numpy as np
import polars as pl

from abawflow.challenges.submission import table_thresholds
from abawflow.report.figures import plt, save  # pyplot with the file-only backend
from abawflow.tasks.metrics import binary_f1, ccc
from abawflow.tasks.specs import get_task


def validation_rows(predictions, labels):
    """The validation rows of a prediction table joined with their labels, annotated frames only."""
    rows = predictions.filter(pl.col("split") == "validation")
    return rows.join(labels.filter(pl.col("annotated")), on=["subject", "frame"], how="inner").sort(
        ["subject", "frame"]
    )


def va_over_time(predictions, labels, output, name, videos=3):
    """Predicted and annotated valence and arousal over the frames of the first validation videos."""
    rows = validation_rows(predictions, labels)
    subjects = rows["subject"].unique(maintain_order=True).to_list()[:videos]
    height = 2.4 * max(len(subjects), 1)
    figure, axes = plt.subplots(max(len(subjects), 1), 2, figsize=(11, height), squeeze=False, layout="constrained")
    if not subjects:
        axes[0, 0].text(0.5, 0.5, "no annotated validation frame", ha="center", va="center")
    for row, subject in enumerate(subjects):
        video = rows.filter(pl.col("subject") == subject)
        for column, dimension in enumerate(("valence", "arousal")):
            axis = axes[row, column]
            truth, predicted = video[dimension].to_numpy(), video[f"predicted_{dimension}"].to_numpy()
            axis.plot(video["frame"], truth, color="black", linewidth=1, label="annotated")
            axis.plot(video["frame"], predicted, color="tab:red", linewidth=1, label="predicted")
            axis.set_ylim(-1.05, 1.05)
            axis.set_title(f"{subject}: {dimension} (CCC {ccc(truth, predicted):.3f})", fontsize=9)
            axis.set_xlabel("frame")
    if subjects:
        axes[0, 0].legend(fontsize=7)
    figure.suptitle(f"VA, {name}, validation videos")
    save(figure, output)


def confusion_counts(truth, decided, classes):
    """counts[i, j]: frames of annotated class i decided as j."""
    counts = np.zeros((classes, classes), np.int64)
    np.add.at(counts, (np.asarray(truth, np.int64), np.asarray(decided, np.int64)), 1)
    return counts


def confusion_matrix(predictions, labels, output, name):
    """Row-normalised confusion matrix of the expression decisions on the annotated validation frames."""
    spec = get_task("expr")
    rows = validation_rows(predictions, labels)
    probabilities = rows.select(spec.output_columns).to_numpy()
    truth = rows[spec.label_columns[0]].to_numpy().astype(int)
    decided = np.asarray(spec.decide(probabilities), np.int64)  # the class of each frame
    classes = spec.head_size
    counts = confusion_counts(truth, decided, classes)
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    names = [c.removeprefix("probability_") for c in spec.output_columns]
    figure, axis = plt.subplots(figsize=(6.4, 5.4), layout="constrained")
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(classes):
        for j in range(classes):
            if counts[i, j]:
                colour = "white" if shares[i, j] > 0.6 else "black"
                label = f"{shares[i, j]:.2f}\n{counts[i, j]}"
                axis.text(j, i, label, ha="center", va="center", fontsize=6, color=colour)
    axis.set_xticks(range(classes), names, rotation=45, ha="right", fontsize=8)
    axis.set_yticks(range(classes), names, fontsize=8)
    axis.set(xlabel="predicted", ylabel="annotated", title=f"EXPR, {name}: {len(rows)} validation frames")
    figure.colorbar(image, ax=axis, fraction=0.046)
    save(figure, output)


def action_unit_scores(predictions, labels, output, name):
    """Per-AU F1 on the annotated validation frames at the thresholds the predictions carry, and those
    thresholds."""
    spec = get_task("au")
    rows = validation_rows(predictions, labels)
    probabilities = rows.select(spec.output_columns).to_numpy()
    thresholds = np.broadcast_to(np.asarray(table_thresholds("au", predictions), np.float64), (spec.head_size,))
    decisions = probabilities >= thresholds
    truth = rows.select(spec.label_columns).to_numpy().astype(bool)
    scores = [binary_f1(truth[:, k], decisions[:, k]) for k in range(spec.head_size)]
    positions = np.arange(spec.head_size)
    figure, axis = plt.subplots(figsize=(9, 3.6), layout="constrained")
    axis.bar(positions - 0.2, scores, width=0.4, label="F1")
    axis.bar(positions + 0.2, thresholds, width=0.4, label="threshold", color="tab:gray")
    axis.set_xticks(positions, spec.label_columns, fontsize=8)
    axis.set_ylim(0, 1)
    axis.set_title(f"AU, {name}: F1 per AU on {len(rows)} validation frames (mean {np.mean(scores):.3f})")
    axis.legend(fontsize=8)
    save(figure, output)

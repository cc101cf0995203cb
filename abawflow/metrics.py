"""ABAW metrics (README, "Data contract"): CCC with population statistics, macro F1, mean AU F1."""

import numpy as np

from abawflow.task_outputs import decide
from abawflow.tasks import get_task


def ccc(x, y):
    """Concordance correlation coefficient, ddof = 0, over all given frames pooled."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) == 0:
        raise ValueError(f"ccc needs two non-empty 1-D arrays of one length, got shapes {x.shape} and {y.shape}")
    mean_x, mean_y = x.mean(), y.mean()
    covariance = ((x - mean_x) * (y - mean_y)).mean()
    denominator = x.var() + y.var() + (mean_x - mean_y) ** 2
    return float(2 * covariance / denominator) if denominator > 0 else 0.0


def binary_f1(truth, prediction):
    """F1 of the positive class; 0 when there are no true and no predicted positives."""
    truth = np.asarray(truth).astype(bool)
    prediction = np.asarray(prediction).astype(bool)
    true_positive = np.sum(truth & prediction)
    denominator = truth.sum() + prediction.sum()
    return float(2 * true_positive / denominator) if denominator else 0.0


def macro_f1(truth, prediction, classes):
    """Unweighted mean of per-class F1 over ``classes`` (all of them, even absent ones)."""
    truth = np.asarray(truth)
    prediction = np.asarray(prediction)
    return float(np.mean([binary_f1(truth == c, prediction == c) for c in range(classes)]))


def mean_au_f1(truth, prediction):
    """Mean over AUs (columns) of each AU's binary F1."""
    truth = np.asarray(truth)
    prediction = np.asarray(prediction)
    return float(np.mean([binary_f1(truth[:, k], prediction[:, k]) for k in range(truth.shape[1])]))


def task_metrics(task, truth, prediction):
    """Challenge metrics of one task as an ordered dict name -> value.

    ``prediction`` holds decided outputs: VA values, EXPR class indices, AU 0/1.
    """
    spec = get_task(task)
    if spec.kind == "regression":
        valence, arousal = ccc(truth[:, 0], prediction[:, 0]), ccc(truth[:, 1], prediction[:, 1])
        return {"ccc_valence": valence, "ccc_arousal": arousal, "score": (valence + arousal) / 2}
    if spec.kind == "multiclass":
        value = macro_f1(truth, prediction, spec.head_size)
        return {"f1_macro": value, "score": value}
    value = mean_au_f1(truth, prediction)
    return {"f1_mean": value, "score": value}


def markdown_table(table, title, submitted):
    """A score table (first column: experiment) as Markdown, the submitted experiment marked *."""
    lines = [title, "", "| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.iter_rows():
        name = f"{row[0]} *" if row[0] == submitted else row[0]
        cells = [f"{value:.4f}" if isinstance(value, float) else str(value) for value in row[1:]]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines) + "\n"


def score_outputs(task, labels, values, thresholds=0.5):
    """Challenge metrics from label rows (label columns) and per-frame outputs (values or probabilities)."""
    spec = get_task(task)
    truth = labels[:, 0].astype(np.int64) if spec.kind == "multiclass" else labels
    return task_metrics(task, truth, decide(spec.kind, values, np.asarray(thresholds)))

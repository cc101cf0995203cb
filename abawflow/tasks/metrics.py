"""ABAW metrics (README, "Data contract"): CCC with population statistics, macro F1, mean AU F1, and ERI's
mean Pearson correlation."""

import numpy as np


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


def pearson(x, y):
    """Pearson's correlation coefficient over all given samples; 0 where either side is constant."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"pearson needs two 1-D arrays of one length >= 2, got shapes {x.shape} and {y.shape}")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt((dx**2).sum() * (dy**2).sum())
    return float((dx * dy).sum() / denominator) if denominator > 0 else 0.0


def mean_pearson(truth, prediction):
    """ERI: the plain mean over columns (the seven emotions) of each column's Pearson r across samples."""
    truth, prediction = np.asarray(truth), np.asarray(prediction)
    return float(np.mean([pearson(truth[:, k], prediction[:, k]) for k in range(truth.shape[1])]))


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


def average_precision(truth, scores):
    """Average precision of the positive class: the mean, over the positives, of the precision among the items
    scored at least as high (ties ranked together, as scikit-learn's step-wise AP); 0 without positives."""
    truth, scores = np.asarray(truth).astype(bool), np.asarray(scores, dtype=np.float64)
    if not truth.any():
        return 0.0
    order = np.argsort(-scores, kind="stable")
    truth, scores = truth[order], scores[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # the last item of each group of equal scores
    hits = np.cumsum(truth)[last]
    precision, recall = hits / (last + 1), hits / truth.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_au_f1(truth, prediction):
    """Mean over AUs (columns) of each AU's binary F1."""
    truth = np.asarray(truth)
    prediction = np.asarray(prediction)
    return float(np.mean([binary_f1(truth[:, k], prediction[:, k]) for k in range(truth.shape[1])]))


def markdown_table(table, title, submitted):
    """A score table (first column: experiment) as Markdown, the submitted experiment marked *."""
    lines = [title, "", "| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.iter_rows():
        name = f"{row[0]} *" if row[0] == submitted else row[0]
        cells = [f"{value:.4f}" if isinstance(value, float) else str(value) for value in row[1:]]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines) + "\n"

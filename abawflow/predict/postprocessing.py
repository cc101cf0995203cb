"""Post-processing of per-frame predictions: temporal smoothing (paper 001) and per-AU decision thresholds
tuned on the validation set. Faceless frames are already interpolated by the predictor."""

import logging

import numpy as np
import polars as pl
from scipy.ndimage import uniform_filter1d

from abawflow.challenges.per_video import video_outputs
from abawflow.challenges.submission import output_columns, threshold_columns
from abawflow.tasks.metrics import binary_f1
from abawflow.tasks.specs import get_task

log = logging.getLogger(__name__)

THRESHOLD_GRID = np.round(np.arange(0.05, 0.96, 0.05), 2)


def smooth(task, table, window):
    """Centred moving average of ``window`` frames of each video's output columns (shorter at the ends).
    Means of probability vectors are probability vectors, so classes stay comparable."""
    if window <= 1:
        return table
    columns = output_columns(task)
    parts = []
    for (_subject, _split), rows in table.group_by(["subject", "split"], maintain_order=True):
        rows = rows.sort("frame")
        values = rows.select(columns).to_numpy().astype(np.float64)
        ones = np.ones(len(values))
        # uniform_filter1d with zeros outside, divided by the number of real frames covered.
        totals = uniform_filter1d(values, window, axis=0, mode="constant", cval=0.0)
        counts = uniform_filter1d(ones, window, mode="constant", cval=0.0)
        smoothed = totals / counts[:, None]
        parts.append(
            rows.with_columns([pl.Series(c, smoothed[:, k].astype(np.float32)) for k, c in enumerate(columns)])
        )
    return pl.concat(parts)


def best_threshold(scores):
    """The threshold of THRESHOLD_GRID whose score (one per grid value) is best; ties: the one nearest 0.5."""
    candidates = THRESHOLD_GRID[np.isclose(scores, max(scores))]
    return float(candidates[np.argmin(np.abs(candidates - 0.5))])


def tune_thresholds(probabilities, truth):
    """Per column, the threshold of THRESHOLD_GRID with the best F1 (ties: the one nearest 0.5)."""
    return np.array(
        [
            best_threshold([binary_f1(truth[:, k], probabilities[:, k] >= t) for t in THRESHOLD_GRID])
            for k in range(truth.shape[1])
        ]
    )


def choose_video_threshold(spec, probabilities, labels):
    """The threshold of THRESHOLD_GRID with the best score of a video-level binary task (its kind's metric,
    A/H's macro F1 over both classes), ties broken towards 0.5."""
    truth = spec.kind.truth(labels)
    return np.array(
        [best_threshold([spec.metrics(truth, spec.decide(probabilities, t))["score"] for t in THRESHOLD_GRID])]
    )


def postprocess(task, table, options, labels=None):
    """Apply ``options`` (smoothing, au_thresholds) to a prediction table; ``labels`` (the task's label
    table) is needed to tune thresholds on the validation rows. A kind whose threshold is always chosen on
    validation (A/H) gets it from its validation videos."""
    table = smooth(task, table, int(options.get("smoothing", 0)))
    spec = get_task(task)
    if spec.kind.threshold_always_tuned:
        joined = labels.filter(pl.col("annotated")).join(
            video_outputs(table.filter(pl.col("split") == "validation"), task), on="subject", how="inner"
        )
        if joined.is_empty():
            raise ValueError(f"{task.upper()}: no labelled validation video to choose the decision threshold on")
        thresholds = choose_video_threshold(
            spec, joined.select(output_columns(task)).to_numpy(), joined.select(spec.label_columns).to_numpy()
        )
        log.info("chose the decision threshold %.2f on %d validation videos", thresholds[0], len(joined))
    elif options.get("au_thresholds", "fixed") == "tuned":
        if not spec.kind.has_thresholds:
            return table
        joined = labels.filter(pl.col("annotated")).join(
            table.filter(pl.col("split") == "validation"), on=["subject", "frame"], how="inner"
        )
        if joined.is_empty():
            raise ValueError(f"{task.upper()}: no annotated validation frame to tune the AU thresholds on")
        thresholds = tune_thresholds(
            joined.select(output_columns(task)).to_numpy(), joined.select(spec.label_columns).to_numpy()
        )
        log.info(
            "tuned AU thresholds on %d validation frames: %s",
            len(joined),
            dict(zip(spec.label_columns, thresholds, strict=True)),
        )
    else:
        return table
    return table.with_columns(
        [pl.lit(float(t), dtype=pl.Float32).alias(c) for c, t in zip(threshold_columns(task), thresholds, strict=True)]
    )

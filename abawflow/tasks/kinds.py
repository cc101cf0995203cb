"""Kinds of task: what a label may hold, what a model's raw outputs mean, how they become the submitted
decisions, how those are scored and written. Nothing outside these classes switches on a kind.

A task (abawflow.tasks.specs.TaskSpec) pairs a kind with its names: VA is a regression, EXPR a single-label
classification, AU a multi-label detection. A new task of an existing kind needs no code here.
"""

import numpy as np
import torch

from abawflow.tasks.metrics import average_precision, ccc, macro_f1, mean_au_f1, pearson


class TaskKind:
    name = ""
    granularity = "frame"  # labels per video frame, or "video": one label row per video
    integer_labels = False  # label tables store the labels as class indices
    has_classes = False  # one class per frame: class-balanced oversampling applies
    has_thresholds = False  # decisions are thresholded probabilities, which can be tuned per column
    threshold_always_tuned = False  # the threshold is always chosen on the validation set (its score's rule)
    output_range = (0.0, 1.0)  # where decoded outputs lie (probabilities, unless a kind says otherwise)

    def invalid_value(self, values, spec):
        """An error text for one annotated row (floats in header order), or None when it is valid."""
        raise NotImplementedError

    def decode(self, outputs):
        """Raw model outputs (a tensor, last axis the head) -> values or probabilities."""
        raise NotImplementedError

    def decide(self, values, thresholds=0.5):
        """Decoded outputs (an array, one row per frame) -> the submitted decisions."""
        raise NotImplementedError

    def format_decision(self, decided):
        """One frame's decision as the text of a submission line (after the image column)."""
        raise NotImplementedError

    def output_columns(self, spec):
        """Columns of a prediction table holding the decoded outputs."""
        return [f"probability_{name}" for name in spec.header]

    def truth(self, labels):
        """Label-table rows (the label columns) -> what `metrics` compares decisions with."""
        return labels

    def metrics(self, spec, truth, decided):
        """The challenge metrics, name -> value; `score` is the one experiments are ranked by."""
        raise NotImplementedError

    def ranking_metrics(self, spec, truth, values):
        """Metrics of the decoded outputs before any decision (a ranking's average precision), name -> value."""
        return {}

    def prior(self, spec, labels):
        """The outputs that annotated label rows average to (mean values; class or AU frequencies): what a
        video with no face at all is predicted."""
        return np.asarray(labels, dtype=np.float64).mean(axis=0)


class Regression(TaskKind):
    """Continuous values in [-1, 1] (valence, arousal), scored by CCC per column."""

    name = "regression"
    output_range = (-1.0, 1.0)

    def invalid_value(self, values, spec):
        bad = [v for v in values if not -1.0 <= v <= 1.0]
        if bad:
            return f"values must lie in [-1, 1] (or be {spec.missing_value:g} for unannotated), got {bad[0]:g}"
        return None

    def decode(self, outputs):
        return torch.tanh(outputs)

    def decide(self, values, thresholds=0.5):
        return np.clip(values, -1.0, 1.0)

    def format_decision(self, decided):
        return ",".join(f"{value:.6f}" for value in decided)

    def output_columns(self, spec):
        return [f"predicted_{name}" for name in spec.label_columns]

    def metrics(self, spec, truth, decided):
        scores = {f"ccc_{name}": ccc(truth[:, k], decided[:, k]) for k, name in enumerate(spec.label_columns)}
        return {**scores, "score": float(np.mean(list(scores.values())))}


class SingleLabel(TaskKind):
    """One class per frame (expressions), scored by macro F1 over every class."""

    name = "multiclass"
    integer_labels = True
    has_classes = True

    def invalid_value(self, values, spec):
        value = values[0]
        if value != int(value) or not 0 <= value < spec.head_size:
            return f"expected one class index 0..{spec.head_size - 1} (or -1 for unannotated), got {value:g}"
        return None

    def decode(self, outputs):
        return torch.softmax(outputs, dim=-1)

    def decide(self, values, thresholds=0.5):
        return values.argmax(axis=1)

    def format_decision(self, decided):
        return str(int(decided))

    def truth(self, labels):
        return labels[:, 0].astype(np.int64)

    def prior(self, spec, labels):
        counts = np.bincount(np.asarray(labels)[:, 0].astype(np.int64), minlength=spec.head_size)
        return counts / max(counts.sum(), 1)

    def metrics(self, spec, truth, decided):
        value = macro_f1(truth, decided, spec.head_size)
        return {"f1_macro": value, "score": value}


class MultiLabel(TaskKind):
    """Independent binary labels per frame (action units), scored by the mean of their F1."""

    name = "multilabel"
    has_thresholds = True

    def invalid_value(self, values, spec):
        bad = [v for v in values if v not in (0.0, 1.0)]
        return f"expected 0 or 1 for every column (or -1 for unannotated), got {bad[0]:g}" if bad else None

    def decode(self, outputs):
        return torch.sigmoid(outputs)

    def decide(self, values, thresholds=0.5):
        return (values >= thresholds).astype(np.int64)

    def format_decision(self, decided):
        return ",".join(str(int(v)) for v in decided)

    def metrics(self, spec, truth, decided):
        value = mean_au_f1(truth, decided)
        return {"f1_mean": value, "score": value}


class Intensity(TaskKind):
    """Intensities in [0, 1] per video (ERI: seven self-reported emotions, each sample divided by its own
    maximum), scored by Pearson's r per column across videos, then their mean."""

    name = "intensity"
    granularity = "video"

    def invalid_value(self, values, spec):
        bad = [v for v in values if not 0.0 <= v <= 1.0]
        return f"intensities must lie in [0, 1], got {bad[0]:g}" if bad else None

    def decode(self, outputs):
        return torch.sigmoid(outputs)

    def decide(self, values, thresholds=0.5):
        return np.clip(values, 0.0, 1.0)

    def format_decision(self, decided):
        return ",".join(f"{value:.6f}" for value in decided)

    def output_columns(self, spec):
        return [f"predicted_{name}" for name in spec.label_columns]

    def metrics(self, spec, truth, decided):
        scores = {f"pearson_{name}": pearson(truth[:, k], decided[:, k]) for k, name in enumerate(spec.label_columns)}
        return {**scores, "score": float(np.mean(list(scores.values())))}


class VideoBinary(TaskKind):
    """One 0/1 label per video (A/H: ambivalence or hesitancy shown), scored by the macro F1 over the two
    classes; the decision threshold is chosen on the validation videos, and the positive class's average
    precision is reported beside it."""

    name = "video_binary"
    granularity = "video"
    integer_labels = True
    has_thresholds = True
    threshold_always_tuned = True

    def invalid_value(self, values, spec):
        return None if values[0] in (0.0, 1.0) else f"expected 0 or 1, got {values[0]:g}"

    def decode(self, outputs):
        return torch.sigmoid(outputs)

    def decide(self, values, thresholds=0.5):
        return (np.asarray(values)[:, 0] >= np.asarray(thresholds).reshape(-1)[0]).astype(np.int64)

    def format_decision(self, decided):
        return str(int(decided))

    def truth(self, labels):
        return np.asarray(labels)[:, 0].astype(np.int64)

    def metrics(self, spec, truth, decided):
        value = macro_f1(truth, decided, 2)
        return {"f1_macro": value, "score": value}

    def ranking_metrics(self, spec, truth, values):
        return {"average_precision": average_precision(truth, np.asarray(values)[:, 0])}


REGRESSION, SINGLE_LABEL, MULTI_LABEL, INTENSITY = Regression(), SingleLabel(), MultiLabel(), Intensity()
VIDEO_BINARY = VideoBinary()

"""What a model's raw outputs mean for each kind of task: decoded values and submitted decisions."""

import numpy as np
import torch


def decode_outputs(kind, outputs):
    """Raw model outputs -> VA values, class probabilities or AU probabilities."""
    if kind == "regression":
        return torch.tanh(outputs)
    if kind == "multiclass":
        return torch.softmax(outputs, dim=-1)
    return torch.sigmoid(outputs)


def decide(kind, values, thresholds=0.5):
    """Probabilities -> submitted values: VA as is, EXPR argmax, AU thresholded."""
    if kind == "regression":
        return np.clip(values, -1.0, 1.0)
    if kind == "multiclass":
        return values.argmax(axis=1)
    return (values >= thresholds).astype(np.int64)

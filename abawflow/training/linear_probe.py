"""A linear probe of a backbone's frozen features (paper 003 judges its MAE so): a ridge regression from the
features of annotated training frames to their labels (one-hot classes for EXPR), scored by the task's metric
on annotated validation frames. Closed form, so the same features give the same score."""

import math

import numpy as np
import polars as pl
import torch

from abawflow.stage_one.feature_stage import preprocess
from abawflow.tasks.specs import get_task
from abawflow.training.face_samples import sample_face_crops

# The tasks a probe reads, in order of preference: classes separate features best.
PROBE_TASKS = ("expr", "au", "va")


def probe_sets(face_tables, labels, splits, task, frames):
    """split -> (RGB crops, label rows) of about ``frames`` annotated frames with a face of the training and of
    the validation videos, sampled evenly within each video."""
    sets = {}
    for split in ("train", "validation"):
        subjects = splits.filter((pl.col("task") == task) & (pl.col("split") == split))["subject"].to_list()
        annotated = labels.filter(pl.col("annotated") & pl.col("subject").is_in(subjects)).height
        every = max(1, math.ceil(annotated / frames))
        sets[split] = sample_face_crops(face_tables, subjects, every, labels)
    return sets


def frozen_features(encoder, crops, spec, device, batch_size=256):
    encoder.eval()
    rows = []
    with torch.no_grad():
        for begin in range(0, len(crops), batch_size):
            batch = crops[begin : begin + batch_size]
            images = preprocess(batch, spec["input_size"], spec["mean"], spec["std"], spec.get("channels", "rgb"))
            rows.append(encoder(images.to(device)).float().cpu().numpy())
    return np.concatenate(rows).astype(np.float64)


def ridge_fit(features, targets, penalty=0.01):
    """(weights, bias, mean, deviation): ridge regression on standardised features, ``penalty`` per frame."""
    mean, deviation = features.mean(0), features.std(0) + 1e-6
    x = (features - mean) / deviation
    offset = targets.mean(0)
    weights = np.linalg.solve(x.T @ x + penalty * len(x) * np.eye(x.shape[1]), x.T @ (targets - offset))
    return weights, offset, mean, deviation


def linear_probe(encoder, spec, sets, task, device="cpu"):
    """The task's validation score of a ridge probe on ``encoder``'s frozen features (``probe_sets``)."""
    task_spec = get_task(task)
    fitted = {}
    for split, (crops, rows) in sets.items():
        if not crops:
            raise ValueError(f"linear probe: no annotated {split} frames with a face for {task.upper()}")
        labels = rows.select(task_spec.label_columns).to_numpy().astype(np.float64)
        fitted[split] = (frozen_features(encoder, crops, spec, device), labels)
    features, labels = fitted["train"]
    targets = np.eye(len(task_spec.header))[labels[:, 0].astype(int)] if task_spec.kind.has_classes else labels
    weights, offset, mean, deviation = ridge_fit(features, targets)
    features, labels = fitted["validation"]
    outputs = ((features - mean) / deviation) @ weights + offset
    return task_spec.score_outputs(labels, outputs)["score"]

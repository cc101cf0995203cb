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
PENALTIES = (0.01, 0.1, 1.0, 10.0, 100.0)  # per frame, on standardised features
FOLDS = 3


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
    """(weights, bias, mean, deviation): ridge regression on standardised features, ``penalty`` per frame.
    Wider features than frames solve the frames' system instead, X'(XX' + cI)^-1 Y: the same weights."""
    mean, deviation = features.mean(0), features.std(0) + 1e-6
    x = (features - mean) / deviation
    offset = targets.mean(0)
    regulariser = penalty * len(x)
    if x.shape[1] > len(x):
        weights = x.T @ np.linalg.solve(x @ x.T + regulariser * np.eye(len(x)), targets - offset)
    else:
        weights = np.linalg.solve(x.T @ x + regulariser * np.eye(x.shape[1]), x.T @ (targets - offset))
    return weights, offset, mean, deviation


def probe_folds(rows, count):
    """A fold number per training frame: whole videos per fold where the rows name them (neighbouring frames
    are near-duplicates), else every ``FOLDS``-th frame."""
    if "subject" not in rows.columns:
        return np.arange(count) % FOLDS
    subjects = rows["subject"].to_list()
    order = {subject: rank for rank, subject in enumerate(sorted(set(subjects)))}
    return np.array([order[subject] % FOLDS for subject in subjects])


def chosen_penalty(features, labels, targets, folds, task_spec):
    """The penalty of ``PENALTIES`` with the best mean validation score over the folds."""
    if len(np.unique(folds)) < 2:
        return PENALTIES[0]
    scores = []
    for penalty in PENALTIES:
        fold_scores = []
        for fold in np.unique(folds):
            held = folds == fold
            weights, offset, mean, deviation = ridge_fit(features[~held], targets[~held], penalty)
            outputs = ((features[held] - mean) / deviation) @ weights + offset
            fold_scores.append(task_spec.score_outputs(labels[held], outputs)["score"])
        scores.append(np.mean(fold_scores))
    return PENALTIES[int(np.argmax(scores))]


def linear_probe(encoder, spec, sets, task, device="cpu"):
    """(the task's validation score, the penalty chosen) of a ridge probe on ``encoder``'s frozen features
    (``probe_sets``)."""
    task_spec = get_task(task)
    fitted = {}
    for split, (crops, rows) in sets.items():
        if not crops:
            raise ValueError(f"linear probe: no annotated {split} frames with a face for {task.upper()}")
        labels = rows.select(task_spec.label_columns).to_numpy().astype(np.float64)
        fitted[split] = (frozen_features(encoder, crops, spec, device), labels)
    features, labels = fitted["train"]
    targets = np.eye(len(task_spec.header))[labels[:, 0].astype(int)] if task_spec.kind.has_classes else labels
    penalty = chosen_penalty(features, labels, targets, probe_folds(sets["train"][1], len(labels)), task_spec)
    weights, offset, mean, deviation = ridge_fit(features, targets, penalty)
    features, labels = fitted["validation"]
    outputs = ((features - mean) / deviation) @ weights + offset
    return task_spec.score_outputs(labels, outputs)["score"], penalty

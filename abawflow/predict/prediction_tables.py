"""Prediction tables: the runs of one experiment averaged over the validation and test videos, the training
prior where a video has no face.

Apart from abawflow/training/temporal.py, so that the submission code it uses is not part of what training runs
(an edit of abawflow/challenges/submission.py never retrains).
"""

import logging

import numpy as np
import polars as pl

from abawflow.challenges.submission import prediction_table
from abawflow.predict.ensembles import KEYS
from abawflow.tasks.specs import TaskLayout, get_task
from abawflow.training.temporal import build_model, predict_sequences

log = logging.getLogger(__name__)


def training_priors(tasks, labels, splits):
    """Task -> the outputs its annotated training frames average to (``labels``: task -> label table): what
    a video without any face is predicted."""
    priors = {}
    for task in tasks:
        spec = get_task(task)
        train = splits.filter((pl.col("task") == task) & (pl.col("split") == "train"))["subject"]
        rows = labels[task].filter(pl.col("annotated") & pl.col("subject").is_in(train.implode()))
        priors[task] = spec.prior(rows.select(spec.label_columns).to_numpy())
    return priors


def predict_table(tasks, checkpoints, sequences, windows, priors, device="cpu"):
    """The prediction table of the validation and test ``sequences`` (split -> sequences) for ``tasks``: the
    outputs of the runs (``checkpoints``, loaded one at a time) averaged, values for VA and probabilities for
    EXPR and AU; a video without any face is predicted the training ``priors`` (task -> outputs), with a
    warning, since there is nothing to interpolate from."""
    totals, runs = {}, 0
    for checkpoint in checkpoints:
        layout = TaskLayout(checkpoint["tasks"])
        model = build_model(layout.tasks, checkpoint["input_widths"], checkpoint["model"]).to(device)
        model.load_state_dict(checkpoint["state_dict"])
        runs += 1
        for split in ("validation", "test"):
            predicted = predict_sequences(
                layout.tasks,
                model,
                sequences[split],
                windows["window"],
                windows["stride"],
                device,
                windows.get("clip_steps", 0),
            )
            for sequence, outputs in zip(sequences[split], predicted, strict=True):
                for task in tasks:
                    key = (task, split, sequence.subject)
                    totals[key] = totals.get(key, 0.0) + outputs[:, layout.outputs[task]]
    tables = []
    for split in ("validation", "test"):
        for sequence in sequences[split]:
            faceless = not sequence.face_found.any()
            if faceless:
                log.warning(
                    "%s video %s: no face in any of its %d frames; predicting the training prior",
                    split,
                    sequence.subject,
                    len(sequence.frames),
                )
            parts = [
                prediction_table(
                    task,
                    sequence.subject,
                    split,
                    sequence.frames,
                    sequence.face_found,
                    np.tile(priors[task], (len(sequence.frames), 1))
                    if faceless
                    else totals[(task, split, sequence.subject)] / runs,
                )
                for task in tasks
            ]
            tables.append(pl.concat([parts[0], *(p.drop(KEYS) for p in parts[1:])], how="horizontal"))
    return pl.concat(tables)

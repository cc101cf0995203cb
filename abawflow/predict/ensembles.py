"""Ensembles (papers 001, 002, 004): a weighted average of several models' per-frame outputs.

VA values are averaged as they are; EXPR and AU probabilities are averaged before the
decision (argmax, threshold), so the ensemble decides on the mean belief of its members.
"""

import numpy as np
import polars as pl

from abawflow.challenges.submission import output_columns
from abawflow.core.errors import ConfigError

KEYS = ["subject", "split", "frame", "face_found"]


def average_predictions(tasks, tables, weights=None, names=None):
    """Weighted mean of the output columns of ``tasks`` (one task, or several in one table: the MTL
    challenge's) of prediction tables covering the same frames."""
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    names = names or [f"member {index}" for index in range(len(tables))]
    weights = np.ones(len(tables)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(weights) != len(tables) or (weights < 0).any() or weights.sum() <= 0:
        raise ConfigError(f"ensemble weights {weights.tolist()} must be {len(tables)} non-negative numbers, not all 0")
    columns = [column for task in tasks for column in output_columns(task)]
    reference = tables[0].select(KEYS).sort(["subject", "frame"])
    total = np.zeros((reference.height, len(columns)))
    for name, table, weight in zip(names, tables, weights, strict=True):
        table = table.sort(["subject", "frame"])
        if not table.select(KEYS).equals(reference):
            raise ConfigError(
                f"{'/'.join(t.upper() for t in tasks)} ensemble: {name}'s predictions cover other frames than "
                f"{names[0]}'s; members must predict the same videos"
            )
        total += weight * table.select(columns).to_numpy().astype(np.float64)
    values = total / weights.sum()
    return reference.with_columns(
        [pl.Series(column, values[:, k].astype(np.float32)) for k, column in enumerate(columns)]
    )

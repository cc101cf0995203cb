"""The files of a resumable training job (temporal training, fine-tuning, MAE pre-training): its per-epoch state
beside the output, resumed only for the same settings and inputs, then the weights and history written
atomically and the state removed."""

from pathlib import Path

import polars as pl

from abawflow.core.atomic import atomic_path, write_torch
from abawflow.training.loop import resume_key


class TrainingFiles:
    def __init__(self, weights, state_name, settings, inputs):
        """``weights``: the job's output; ``state_name``: its per-epoch state's file name beside it; ``settings``
        (params, code fingerprint) and ``inputs`` (files): what a saved state belongs to."""
        self.weights = Path(weights)
        self.state_path = self.weights.with_name(state_name)
        self.resume_key = resume_key(settings, inputs)

    def finish(self, checkpoint, history, history_path):
        """Write the weights (``checkpoint``, as torch saves it) and the history rows, then drop the state."""
        write_torch(checkpoint, self.weights)
        with atomic_path(history_path) as temporary:
            pl.DataFrame(history).write_csv(temporary)
        self.state_path.unlink(missing_ok=True)

"""The one training loop: epochs, learning-rate schedule, optimisation steps, EMA, validation, best-epoch
keeping, early stopping, per-epoch checkpoints and resume. Temporal training, backbone fine-tuning and MAE
pre-training differ only in how an epoch draws its batches and computes a loss, which they hand in.
"""

import copy
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from abawflow.core.atomic import write_torch
from abawflow.core.errors import ConfigError
from abawflow.core.progress import duration, kill_if_past, kill_point

log = logging.getLogger("abawflow.training.temporal")


def resume_key(settings, inputs):
    """What a saved training state belongs to: the run's settings (params, code fingerprint) and its input
    files as they are now (path, size, modification time)."""
    files = [(str(path), state.st_size, state.st_mtime_ns) for path, state in ((p, os.stat(p)) for p in inputs)]
    return hashlib.sha256(json.dumps([settings, files], sort_keys=True, default=str).encode()).hexdigest()


def create_optimizer(name, parameters, learning_rate, weight_decay):
    if name == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)
    raise ConfigError(f"unknown optimizer {name!r}; choose adam or adamw")


def learning_rate_factor(epoch, epochs, schedule="constant", warmup_epochs=0):
    """Factor on the base learning rate in ``epoch`` (1-based): linear warm-up, then constant or cosine."""
    if epoch <= warmup_epochs:
        return epoch / (warmup_epochs + 1)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * (epoch - warmup_epochs - 1) / max(epochs - warmup_epochs, 1)))
    raise ConfigError(f"unknown learning-rate schedule {schedule!r}; choose constant or cosine")


class ExponentialMovingAverage:
    """EMA of the weights (paper 002): evaluation and the saved model use the averaged weights."""

    def __init__(self, model, decay):
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model):
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                self.state[key].mul_(self.decay).add_(value, alpha=1 - self.decay)
            else:
                self.state[key].copy_(value)

    def averaged(self, model):
        averaged = copy.deepcopy(model)
        averaged.load_state_dict(self.state)
        return averaged


@dataclass
class LoopSettings:
    """How the loop runs, from a recipe: the keys every trainer shares."""

    epochs: int
    learning_rate: float
    schedule: str = "constant"
    warmup_epochs: int = 0
    ema: float = 0.0
    gradient_clip: float = 0.0
    patience: int = 0  # > 0: stop after this many epochs without a better validation score
    keep_best: bool = False  # keep the best validation epoch's weights (always, with patience)

    @classmethod
    def from_recipe(cls, recipe, keep_best=False):
        patience = recipe.get("patience", 0)
        return cls(
            epochs=recipe["epochs"],
            learning_rate=recipe["learning_rate"],
            schedule=recipe.get("schedule", "constant"),
            warmup_epochs=recipe.get("warmup_epochs", 0),
            ema=recipe.get("ema", 0.0),
            gradient_clip=recipe.get("gradient_clip", 0.0),
            patience=patience,
            keep_best=keep_best or bool(patience),
        )


class TrainingLoop:
    """Runs ``run_epoch(loop, epoch)`` for each epoch; it draws its batches and calls ``loop.step(loss)``
    for each. ``validate(model)`` (optional) scores the model every epoch; its ``score`` ranks epochs.

    With ``state_path``, the whole state (weights, optimiser, EMA, best epoch, history, the torch
    generators and the caller's ``generator``, a NumPy Generator) is saved after every epoch, and a run
    killed mid-training resumes from it when ``resume_key`` matches, giving the same model as an
    uninterrupted run.
    """

    def __init__(
        self, name, model, optimizer, settings, generator=None, state_path=None, resume_key=None, stage="training"
    ):
        self.name, self.model, self.optimizer, self.settings = name, model, optimizer, settings
        self.generator, self.state_path, self.resume_key = generator, state_path, resume_key
        self.ema = ExponentialMovingAverage(model, settings.ema) if settings.ema else None
        self.losses = []
        self.epoch = 0
        self.kill_at = kill_point(stage)  # the resume tests' kill, inside an epoch: stage as in progress.py

    def step(self, loss):
        """One optimisation step on ``loss``: gradients, clipping, the update and the EMA."""
        self.optimizer.zero_grad()
        loss.backward()
        if self.settings.gradient_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.gradient_clip)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.losses.append(loss.detach())  # read once per epoch: .item() here would wait for the GPU every step
        kill_if_past(self.kill_at, self.epoch - 1, self.settings.epochs)

    def current(self):
        """The model evaluation and saving use: the EMA weights when on, else the trained ones."""
        return self.ema.averaged(self.model) if self.ema is not None else self.model

    def run(self, run_epoch, validate=None, loss_name="train_loss", log_learning_rate=True):
        """Train; returns (final model, history rows)."""
        settings = self.settings
        finished, history, saved = self._resume()
        best = {"score": saved.get("best_score", -math.inf), "epoch": saved.get("best_epoch", 0)}
        best_weights = saved.get("best_weights")
        started = time.monotonic()
        for epoch in range(finished + 1, settings.epochs + 1):
            if settings.patience and epoch - best["epoch"] > settings.patience and best["epoch"] > 0:
                log.info("%s: early stop after epoch %d, best epoch %d", self.name, epoch - 1, best["epoch"])
                break
            factor = learning_rate_factor(epoch, settings.epochs, settings.schedule, settings.warmup_epochs)
            for group in self.optimizer.param_groups:
                group["lr"] = settings.learning_rate * factor
            self.model.train()
            self.losses = []
            self.epoch = epoch
            run_epoch(self, epoch)
            row = {"epoch": epoch}
            if log_learning_rate:
                row["learning_rate"] = settings.learning_rate * factor
            row[loss_name] = float(np.mean(torch.stack(self.losses).tolist())) if self.losses else math.nan
            evaluated = self.current()
            if validate is not None:
                scores = validate(evaluated)
                row.update({f"validation_{k}": v for k, v in scores.items()})
                if settings.keep_best and scores["score"] > best["score"]:
                    best = {"score": scores["score"], "epoch": epoch}
                    best_weights = copy.deepcopy(evaluated.state_dict())
            history.append(row)
            self._save(epoch, history, best, best_weights)
            done = epoch - finished
            left = (time.monotonic() - started) / done * (settings.epochs - epoch)
            log.info(
                "%s epoch %d: %s; %s of at most %d epochs left",
                self.name,
                epoch,
                ", ".join(f"{k}={v:.4f}" for k, v in row.items() if k != "epoch"),
                duration(left),
                settings.epochs - epoch,
            )
        final = self.current()
        if settings.keep_best and best_weights is not None:
            final.load_state_dict(best_weights)
            log.info("%s: keeping epoch %d (validation score %.4f)", self.name, best["epoch"], best["score"])
        return final, history

    def _save(self, epoch, history, best, best_weights):
        if self.state_path is None:
            return
        state = {
            "resume_key": self.resume_key,
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.bit_generator.state if self.generator is not None else None,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "history": history,
            "best_score": best["score"],
            "best_epoch": best["epoch"],
        }
        if best_weights is not None:
            state["best_weights"] = best_weights
        if self.ema is not None:
            state["ema"] = self.ema.state
        write_torch(state, self.state_path)

    def _resume(self):
        """Restore the state saved after an epoch; returns (last finished epoch, history, state), or (0, [], {})."""
        if self.state_path is None or not Path(self.state_path).exists():
            return 0, [], {}
        path = Path(self.state_path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # a state file from another version: start over rather than fail
            log.warning("ignoring the training state %s (%s); training from epoch 1", path, error)
            return 0, [], {}
        if state.get("resume_key") != self.resume_key:
            log.warning("the training state %s belongs to other inputs or settings; training from epoch 1", path)
            return 0, [], {}
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.generator is not None and state.get("generator") is not None:
            self.generator.bit_generator.state = state["generator"]
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        if self.ema is not None and "ema" in state:
            self.ema.state = state["ema"]
        log.info("%s: resuming after epoch %d from %s", self.name, state["epoch"], path)
        return state["epoch"], state["history"], state

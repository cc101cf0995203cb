"""Temporal training and prediction: masked multi-task losses over a model's regime (windows, recurrent
segments or clips: abawflow.training.regimes). The epochs themselves run in the shared loop of
abawflow.training.loop."""

import logging

import numpy as np
import torch

from abawflow.core.errors import ConfigError
from abawflow.tasks.specs import TaskLayout, score_outputs
from abawflow.training.loop import LoopSettings, TrainingLoop, create_optimizer
from abawflow.training.regimes import make_windows, regime
from abawflow.training.reproducibility import seed_everything
from abawflow.training.sequences import attach_store
from models.losses import create_loss
from models.temporal import create_temporal_model

log = logging.getLogger(__name__)


def detach_state(state):
    """The same state (a tensor, a tuple of tensors, or a dict of those per encoder), cut from the graph."""
    if state is None:
        return None
    if isinstance(state, dict):
        return {key: detach_state(value) for key, value in state.items()}
    return tuple(part.detach() for part in state) if isinstance(state, tuple) else state.detach()


def model_inputs(batch, device):
    """A batch's features and padding mask on ``device``, as the model takes them."""
    return [f.to(device) for f in batch["features"]], batch["padding"].to(device)


def shuffle_labels(sequences, seed):
    """Control experiment: permute label rows across all training frames (breaks the image-label link)."""
    rng = np.random.default_rng(seed)
    targets = np.concatenate([s.targets for s in sequences])
    annotated = np.concatenate([s.annotated for s in sequences])
    order = rng.permutation(len(targets))
    targets, annotated = targets[order], annotated[order]
    offset = 0
    for s in sequences:
        n = len(s.frames)
        s.targets, s.annotated = targets[offset : offset + n], annotated[offset : offset + n]
        offset += n


def build_model(tasks, input_widths, model_config):
    """The temporal model of ``model_config`` (fusion, encoder, optional framework and heads) for ``tasks``."""
    layout = TaskLayout(tasks)
    return create_temporal_model(
        input_widths,
        layout.head_sizes,
        model_config["fusion"],
        model_config["encoder"],
        model_config.get("framework"),
        model_config.get("heads"),
    )


class MultiTaskLoss:
    """Sum over tasks of ``weight * loss`` on each task's outputs, labels and mask (paper 001, Eq. 15).
    A task with no annotated frame in the batch adds nothing."""

    def __init__(self, layout, losses, weights=None):
        self.layout, self.losses = layout, losses
        self.weights = {task: float((weights or {}).get(task, 1.0)) for task in layout.tasks}

    def __call__(self, outputs, targets, mask, present=None):
        """``present``: per task, whether the batch has an annotated frame of it (default: read from
        ``mask``; the trainer passes it from the batch's CPU copy, so the GPU is not waited for)."""
        total = None
        for k, task in enumerate(self.layout.tasks):
            task_mask = mask[..., k]
            if not (task_mask.any() if present is None else present[k]):
                continue
            loss = self.weights[task] * self.losses[task](
                outputs[..., self.layout.outputs[task]], targets[..., self.layout.labels[task]], task_mask
            )
            total = loss if total is None else total + loss
        return total


def create_task_losses(layout, recipe, sequences):
    losses = {}
    for k, task in enumerate(layout.tasks):
        config = (recipe.get("losses") or {}).get(task) or {"name": layout.specs[task].loss}
        loss = create_loss(config["name"], **{key: v for key, v in config.items() if key != "name"})
        if hasattr(loss, "fit"):  # losses weighted by training label statistics (paper 000, Eq. 7)
            loss.fit(
                np.concatenate([s.targets[s.annotated[:, k] & s.face_found][:, layout.labels[task]] for s in sequences])
            )
        losses[task] = loss
    return MultiTaskLoss(layout, losses, recipe.get("loss_weights"))


def class_balanced_weights(items, layout):
    """Sampling weight of each training window: the mean over its annotated frames of 1 / (frames of that
    frame's class), for the multiclass task; windows without such frames get the mean weight."""
    multiclass = [t for t in layout.tasks if layout.specs[t].kind.has_classes]
    if not multiclass:
        raise ConfigError(f"class-balanced oversampling needs a multiclass task (expr), not {', '.join(layout.tasks)}")
    task = multiclass[0]
    column, k = layout.labels[task].start, layout.index(task)
    classes = [s.targets[s.annotated[:, k] & s.face_found, column].astype(np.int64) for s, _, _ in items]
    counts = np.bincount(np.concatenate(classes), minlength=layout.specs[task].head_size).astype(np.float64)
    inverse = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
    weights = np.array([inverse[c].mean() if len(c) else np.nan for c in classes])
    weights[np.isnan(weights)] = np.nanmean(weights) if np.isfinite(weights).any() else 1.0
    return weights / weights.sum()


def fold_sequences(sequences, folds, fold):
    """K-fold cross-validation by video (paper 003): (training sequences, held-out sequences) of ``fold``.
    Videos are dealt to folds in a fixed shuffled order, the same for every seed."""
    if not 0 <= fold < folds:
        raise ConfigError(f"fold {fold} does not exist with {folds} folds")
    if folds > len(sequences):
        raise ConfigError(f"{folds} folds need at least {folds} training videos, there are {len(sequences)}")
    order = np.random.default_rng(0).permutation(sorted(range(len(sequences)), key=lambda i: sequences[i].subject))
    held_out = set(order[fold::folds].tolist())
    return (
        [s for i, s in enumerate(sequences) if i not in held_out],
        [s for i, s in enumerate(sequences) if i in held_out],
    )


def train(tasks, sequences, model_config, recipe, device="cpu", state_path=None, resume_key=None):
    """Train a temporal model for ``tasks`` (one name or several); returns (model, history rows).

    ``sequences``: split -> Sequences; "validation" (may be empty) scores every epoch and, with
    ``patience`` > 0, stops training and keeps the best epoch. With ``state_path``, the full training
    state is saved there after every epoch, and a run killed mid-training resumes from it, giving the
    same model as an uninterrupted run. ``resume_key`` identifies the inputs and settings it belongs to.
    """
    layout = TaskLayout(tasks)
    name = "+".join(layout.tasks)
    seed_everything(recipe["seed"])
    train_sequences = sequences["train"]
    if recipe.get("shuffle_labels"):
        log.warning("shuffle_labels is on: training labels are permuted across frames (control run)")
        shuffle_labels(train_sequences, recipe["seed"])
    annotated = {
        task: sum(int((s.annotated[:, k] & s.face_found).sum()) for s in train_sequences)
        for k, task in enumerate(layout.tasks)
    }
    empty = [task for task, count in annotated.items() if count == 0]
    if empty:
        raise ConfigError(
            f"{'/'.join(t.upper() for t in empty)}: no annotated training frame with a detected face "
            f"({len(train_sequences)} training videos); check the Train_Set annotations and the face logs"
        )
    attach_store([s for split in sequences.values() for s in split])
    store = train_sequences[0].store
    input_widths = list(store.widths)
    model = build_model(layout.tasks, input_widths, model_config)
    if hasattr(model.fusion, "set_input_statistics"):
        ranges = [(s.offset, s.face_found) for s in train_sequences]
        statistics = [store.statistics(k, ranges) for k in range(len(input_widths))]
        model.fusion.set_input_statistics([mean for mean, _ in statistics], [std for _, std in statistics])
    model = model.to(device)
    loss_function = create_task_losses(layout, recipe, train_sequences)
    optimizer = create_optimizer(
        recipe.get("optimizer", "adamw"), model.parameters(), recipe["learning_rate"], recipe["weight_decay"]
    )
    steps = recipe.get("clip_steps", 0)
    if steps and model.carries_state:
        raise ConfigError("clip_steps samples one clip per video; recurrent encoders train on consecutive segments")
    items = make_windows(train_sequences, recipe["window"], recipe["stride"])
    sampling = None
    if recipe.get("oversampling", "none") == "class_balanced":
        if model.carries_state or steps:
            raise ConfigError(
                "class-balanced oversampling draws windows; recurrent encoders and clips train on whole videos"
            )
        sampling = class_balanced_weights(items, layout)
    training = regime(model.carries_state, recipe["window"], recipe["stride"], steps, items, sampling)
    generator = np.random.default_rng(recipe["seed"])
    loop = TrainingLoop(name, model, optimizer, LoopSettings.from_recipe(recipe), generator, state_path, resume_key)
    log.info(
        "%s: %d training windows, annotated frames with a face %s; model has %d parameters",
        name,
        len(items),
        annotated,
        sum(p.numel() for p in model.parameters()),
    )

    def optimisation_step(batch, state=None):
        features, padding = model_inputs(batch, device)
        if model.carries_state:
            outputs, state = model.forward_with_state(features, padding, state)
        else:
            outputs = model(features, padding)
        present = batch["mask"].flatten(0, 1).any(0).tolist()  # on the CPU copy: no wait for the GPU
        if any(present):
            loop.step(loss_function(outputs, batch["targets"].to(device), batch["mask"].to(device), present))
        return detach_state(state)  # truncated back-propagation: gradients stop at the segment border

    def run_epoch(loop, epoch):
        for run in training.training_runs(train_sequences, recipe["batch_size"], generator):
            state = None
            for batch in run:
                state = optimisation_step(batch, state)

    validate = None
    if sequences.get("validation"):

        def validate(evaluated):
            return evaluate(layout.tasks, evaluated, sequences["validation"], recipe, device)

    return loop.run(run_epoch, validate)


def decode_tasks(layout, outputs):
    """Concatenated raw outputs -> each task's values or probabilities, concatenated in the same order."""
    return torch.cat([spec.decode(outputs[..., layout.outputs[task]]) for task, spec in layout.specs.items()], -1)


@torch.no_grad()
def predict_sequence(tasks, model, sequence, window, stride, device="cpu", clip_steps=0):
    """Per-frame outputs of one subject; see ``predict_sequences``."""
    return predict_sequences(tasks, model, [sequence], window, stride, device, clip_steps)[0]


@torch.no_grad()
def predict_sequences(tasks, model, sequences, window, stride, device="cpu", clip_steps=0):
    """Per-frame outputs of each subject (all tasks' outputs, concatenated), one array per sequence:
    overlapping windows averaged, faceless frames interpolated; with ``clip_steps``, the output of the video's
    clip at every frame. Windows, clips and recurrent segments of several videos share each forward pass."""
    layout = TaskLayout(tasks)
    model.eval()
    attach_store(sequences)
    prediction = regime(model.carries_state, window, stride, clip_steps)

    def forward(batch, state=None):
        inputs = model_inputs(batch, device)
        if prediction.carries_state:
            raw, state = model.forward_with_state(*inputs, state)
        else:
            raw = model(*inputs)
        return decode_tasks(layout, raw).cpu().numpy(), state

    return prediction.predict(forward, sequences, sum(layout.head_sizes.values()))


def evaluate(tasks, model, sequences, recipe, device="cpu"):
    """Validation metrics of each task on the sequences it annotates; with several tasks, keys are
    prefixed by the task and ``score`` is the sum of the task scores (the MTL challenge's formula)."""
    layout = TaskLayout(tasks)
    labels = {task: [] for task in layout.tasks}
    values = {task: [] for task in layout.tasks}
    per_video = predict_sequences(
        layout.tasks, model, sequences, recipe["window"], recipe["stride"], device, recipe.get("clip_steps", 0)
    )
    for sequence, outputs in zip(sequences, per_video, strict=True):
        for k, task in enumerate(layout.tasks):
            mask = sequence.annotated[:, k]
            truth, predicted = sequence.targets[mask][:, layout.labels[task]], outputs[mask][:, layout.outputs[task]]
            if layout.specs[task].granularity == "video" and mask.any():  # scored once per video
                truth, predicted = truth[:1], predicted.mean(axis=0, keepdims=True)
            labels[task].append(truth)
            values[task].append(predicted)
    scores = {}
    for task in layout.tasks:
        if sum(len(v) for v in values[task]) == 0:
            raise ConfigError(f"{task.upper()}: no annotated validation frame to score")
        scores[task] = score_outputs(task, np.concatenate(labels[task]), np.concatenate(values[task]))
    if len(layout.tasks) == 1:
        return scores[layout.tasks[0]]
    flat = {f"{task}_{k}": v for task, metrics in scores.items() for k, v in metrics.items()}
    flat["score"] = sum(metrics["score"] for metrics in scores.values())
    return flat

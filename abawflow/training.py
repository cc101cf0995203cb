"""One trainer for every task, driven by its TaskSpec: sliding windows, masked losses, window-averaged prediction."""

import logging
import random
from pathlib import Path

import numpy as np
import torch

from abawflow.atomic import atomic_path
from abawflow.errors import ConfigError
from abawflow.metrics import task_metrics
from abawflow.tasks import get_task
from models.losses import create_loss
from models.temporal import create_temporal_model

log = logging.getLogger(__name__)


def window_starts(length, window, stride):
    """Starts of windows covering ``[0, length)``; the last window ends at the sequence end."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


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


def make_windows(sequences, window, stride):
    """(sequence, start, stop) of every window of every sequence; ``collate`` pads and stacks them."""
    items = []
    for sequence in sequences:
        length = len(sequence.frames)
        for start in window_starts(length, window, stride):
            stop = min(start + window, length)
            items.append((sequence, start, stop))
    return items


def segment_batches(sequences, window, batch_size, generator):
    """Recurrent training (paper 001): videos in random groups of ``batch_size``; each group yields its
    consecutive, non-overlapping segments in order, one (sequence, start, stop) per video (empty once
    a video has ended)."""
    order = generator.permutation(len(sequences))
    for begin in range(0, len(order), batch_size):
        group = [sequences[i] for i in order[begin : begin + batch_size]]
        longest = max(len(s.frames) for s in group)
        yield [
            [(s, min(start, len(s.frames)), min(start + window, len(s.frames))) for s in group]
            for start in range(0, longest, window)
        ]


def detach_state(state):
    if state is None:
        return None
    return tuple(part.detach() for part in state) if isinstance(state, tuple) else state.detach()


def collate(items, window, with_labels):
    batch = len(items)
    widths = [f.shape[1] for f in items[0][0].features]
    features = [np.zeros((batch, window, w), np.float32) for w in widths]
    padding = np.ones((batch, window), bool)
    targets = mask = None
    if with_labels:
        targets = np.zeros((batch, window, items[0][0].targets.shape[1]), np.float32)
        mask = np.zeros((batch, window), bool)
    for b, (sequence, start, stop) in enumerate(items):
        n = stop - start
        for k, f in enumerate(sequence.features):
            features[k][b, :n] = f[start:stop]
        padding[b, :n] = ~sequence.face_found[start:stop]
        if with_labels:
            targets[b, :n] = sequence.targets[start:stop]
            mask[b, :n] = sequence.annotated[start:stop] & sequence.face_found[start:stop]
    result = {"features": [torch.from_numpy(f) for f in features], "padding": torch.from_numpy(padding)}
    if with_labels:
        result["targets"], result["mask"] = torch.from_numpy(targets), torch.from_numpy(mask)
    return result


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


def build_model(task, input_widths, model_config):
    spec = get_task(task)
    return create_temporal_model(input_widths, spec.head_size, model_config["fusion"], model_config["encoder"])


def _training_state(epoch, model, optimizer, generator, history, resume_key):
    return {
        "resume_key": resume_key,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "window_order": generator.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "history": history,
    }


def _load_training_state(path, resume_key, model, optimizer, generator):
    """Restore the state saved after an epoch; returns (last finished epoch, history), or (0, []) to start over."""
    path = Path(path)
    if not path.exists():
        return 0, []
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a state file from another version: start over rather than fail
        log.warning("ignoring the training state %s (%s); training from epoch 1", path, error)
        return 0, []
    if state.get("resume_key") != resume_key:
        log.warning("the training state %s belongs to other inputs or settings; training from epoch 1", path)
        return 0, []
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator.bit_generator.state = state["window_order"]
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    log.info("resuming after epoch %d from %s", state["epoch"], path)
    return state["epoch"], state["history"]


def train(task, sequences, model_config, recipe, device="cpu", state_path=None, resume_key=None):
    """Train a temporal model for ``task``; returns (model, history rows).

    With ``state_path``, the full training state (weights, optimiser, random generators) is saved
    there after every epoch, and a run killed mid-training resumes from it, giving the same model
    as an uninterrupted run. ``resume_key`` identifies the inputs and settings the state belongs to.
    """
    spec = get_task(task)
    seed_everything(recipe["seed"])
    train_sequences = sequences["train"]
    if recipe.get("shuffle_labels"):
        log.warning("shuffle_labels is on: training labels are permuted across frames (control run)")
        shuffle_labels(train_sequences, recipe["seed"])
    annotated = sum(int((s.annotated & s.face_found).sum()) for s in train_sequences)
    if annotated == 0:
        raise ConfigError(
            f"{task.upper()}: no annotated training frame with a detected face "
            f"({len(train_sequences)} training videos); check the Train_Set annotations and the face logs"
        )
    input_widths = [f.shape[1] for f in train_sequences[0].features]
    model = build_model(task, input_widths, model_config)
    if hasattr(model.fusion, "set_input_statistics"):
        visible = [
            np.concatenate([s.features[k][s.face_found] for s in train_sequences]) for k in range(len(input_widths))
        ]
        model.fusion.set_input_statistics([v.mean(0) for v in visible], [v.std(0) for v in visible])
    model = model.to(device)
    loss_config = recipe.get("loss") or {"name": spec.loss}
    loss_function = create_loss(loss_config["name"], **{k: v for k, v in loss_config.items() if k != "name"})
    if hasattr(loss_function, "fit"):  # losses weighted by training label statistics (paper 000, Eq. 7)
        loss_function.fit(np.concatenate([s.targets[s.annotated & s.face_found] for s in train_sequences]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["learning_rate"], weight_decay=recipe["weight_decay"])
    items = make_windows(train_sequences, recipe["window"], recipe["stride"])
    generator = np.random.default_rng(recipe["seed"])
    finished, history = 0, []
    if state_path is not None:
        finished, history = _load_training_state(state_path, resume_key, model, optimizer, generator)
    log.info(
        "%s: %d training windows, %d annotated frames with a face; model has %d parameters",
        task,
        len(items),
        annotated,
        sum(p.numel() for p in model.parameters()),
    )

    def optimisation_step(batch, losses, state=None):
        features, padding = [f.to(device) for f in batch["features"]], batch["padding"].to(device)
        if model.carries_state:
            outputs, state = model.forward_with_state(features, padding, state)
        else:
            outputs = model(features, padding)
        if batch["mask"].any():
            loss = loss_function(outputs, batch["targets"].to(device), batch["mask"].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return detach_state(state)  # truncated back-propagation: gradients stop at the segment border

    for epoch in range(finished + 1, recipe["epochs"] + 1):
        model.train()
        losses = []
        if model.carries_state:
            for segments in segment_batches(train_sequences, recipe["window"], recipe["batch_size"], generator):
                state = None
                for segment in segments:
                    state = optimisation_step(collate(segment, recipe["window"], True), losses, state)
        else:
            order = generator.permutation(len(items))
            for begin in range(0, len(order), recipe["batch_size"]):
                chunk = [items[i] for i in order[begin : begin + recipe["batch_size"]]]
                optimisation_step(collate(chunk, recipe["window"], True), losses)
        row = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        if sequences.get("validation"):
            row.update(
                {
                    f"validation_{k}": v
                    for k, v in evaluate(task, model, sequences["validation"], recipe, device).items()
                }
            )
        history.append(row)
        if state_path is not None:
            with atomic_path(state_path) as temporary:
                torch.save(_training_state(epoch, model, optimizer, generator, history, resume_key), temporary)
        log.info("%s epoch %d: %s", task, epoch, ", ".join(f"{k}={v:.4f}" for k, v in row.items() if k != "epoch"))
    return model, history


@torch.no_grad()
def predict_sequence(task, model, sequence, window, stride, device="cpu"):
    """Per-frame outputs of one subject: overlapping windows averaged, faceless frames interpolated."""
    spec = get_task(task)
    model.eval()
    length = len(sequence.frames)
    if model.carries_state:  # consecutive segments, the state handed on: every frame sees its whole past
        outputs, state = [], None
        for start in range(0, length, window):
            batch = collate([(sequence, start, min(start + window, length))], window, False)
            raw, state = model.forward_with_state(
                [f.to(device) for f in batch["features"]], batch["padding"].to(device), state
            )
            outputs.append(decode_outputs(spec.kind, raw)[0, : min(window, length - start)].cpu().numpy())
        return interpolate_faceless(np.concatenate(outputs).astype(np.float64), sequence.face_found)
    total = np.zeros((length, spec.head_size), np.float64)
    counts = np.zeros(length)
    items = [(sequence, start, min(start + window, length)) for start in window_starts(length, window, stride)]
    for begin in range(0, len(items), 32):
        chunk = items[begin : begin + 32]
        batch = collate(chunk, window, False)
        outputs = decode_outputs(
            spec.kind, model([f.to(device) for f in batch["features"]], batch["padding"].to(device))
        )
        outputs = outputs.cpu().numpy()
        for b, (_, start, stop) in enumerate(chunk):
            total[start:stop] += outputs[b, : stop - start]
            counts[start:stop] += 1
    values = total / counts[:, None]
    return interpolate_faceless(values, sequence.face_found)


def interpolate_faceless(values, face_found):
    """Replace outputs of frames without a face by linear interpolation between the nearest face frames."""
    if face_found.all():
        return values
    if not face_found.any():
        return values  # no face anywhere: keep the model's output for empty input (its learned prior)
    frames = np.arange(len(values))
    result = values.copy()
    for column in range(values.shape[1]):
        result[~face_found, column] = np.interp(frames[~face_found], frames[face_found], values[face_found, column])
    return result


def score_outputs(task, labels, values):
    """Challenge metrics from label rows (label columns) and per-frame outputs (values or probabilities)."""
    spec = get_task(task)
    truth = labels[:, 0].astype(np.int64) if spec.kind == "multiclass" else labels
    return task_metrics(task, truth, decide(spec.kind, values))


def evaluate(task, model, sequences, recipe, device="cpu"):
    labels, values = [], []
    for sequence in sequences:
        outputs = predict_sequence(task, model, sequence, recipe["window"], recipe["stride"], device)
        labels.append(sequence.targets[sequence.annotated])
        values.append(outputs[sequence.annotated])
    return score_outputs(task, np.concatenate(labels), np.concatenate(values))

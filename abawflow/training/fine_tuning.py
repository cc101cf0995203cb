"""Fine-tuning a backbone on the aligned training frames with one task's labels (papers 003, 004).

The backbone gets a linear head of the task's size and trains on single frames with augmentation
(random crop and rotation, flip, colour jitter, blur, random erasing) and, for EXPR, class-balanced
oversampling. The epoch with the best validation score is kept; its backbone weights, without the
head, become a new backbone whose features feed stage two like any other.
"""

import logging

import numpy as np
import torch

from abawflow.core.errors import ConfigError
from abawflow.stage_one.feature_stage import preprocess
from abawflow.tasks.specs import get_task, score_outputs
from abawflow.training.face_samples import sample_face_crops
from abawflow.training.loop import LoopSettings, TrainingLoop
from abawflow.training.reproducibility import seed_everything
from models.backbones import FineTuningModel
from models.losses import create_loss

log = logging.getLogger(__name__)


def read_labelled_crops(face_tables, labels, subjects, every=1):
    """(crops as RGB arrays, label rows) of every ``every``-th annotated frame with a face of ``subjects``."""
    return sample_face_crops(face_tables, subjects, every, labels)


def augmentation(size, channels):
    from torchvision.transforms import v2

    steps = [
        v2.RandomResizedCrop(size, scale=(0.8, 1.0), ratio=(0.9, 1.1), antialias=True),
        v2.RandomRotation(10),
        v2.RandomHorizontalFlip(),
        v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3 if channels == "rgb" else 0.0),
        v2.RandomApply([v2.GaussianBlur(3, sigma=(0.1, 1.5))], p=0.3),
    ]
    return v2.Compose(steps), v2.RandomErasing(p=0.25, scale=(0.02, 0.15))


def class_balanced_frame_weights(classes, head_size):
    counts = np.bincount(classes, minlength=head_size).astype(np.float64)
    weights = 1.0 / counts[classes]
    return weights / weights.sum()


def fine_tune(backbone, spec, task, train, validation, recipe, device="cpu", state_path=None, resume_key=None):
    """Fine-tune ``backbone`` (a module) on ``train`` = (crops, label rows); returns (the best epoch's
    state dict of the backbone plus head, history rows). ``spec``: the backbone's input_size, channels, mean, std,
    output_width; ``recipe``: seed, epochs, batch_size, learning_rate, weight_decay, oversampling. With
    ``state_path``, a killed run resumes after its last finished epoch (abawflow.training.loop)."""
    seed_everything(recipe["seed"])
    task_spec = get_task(task)
    crops, rows = train
    if not crops:
        raise ConfigError(f"fine-tuning on {task.upper()}: no annotated training frame with a face")
    targets = torch.from_numpy(rows.select(task_spec.label_columns).to_numpy().astype(np.float32))
    model = FineTuningModel(backbone, spec["output_width"], task_spec.head_size).to(device)
    loss_function = create_loss(task_spec.loss)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["learning_rate"], weight_decay=recipe["weight_decay"])
    transform, erasing = augmentation(spec["input_size"], spec["channels"])
    generator = np.random.default_rng(recipe["seed"])
    sampling = None
    if recipe.get("oversampling") == "class_balanced":
        if not task_spec.kind.has_classes:
            raise ConfigError(f"class-balanced oversampling needs a multiclass task (expr), not {task}")
        sampling = class_balanced_frame_weights(targets[:, 0].long().numpy(), task_spec.head_size)
    log.info("fine-tuning on %d %s frames, validating on %d", len(crops), task.upper(), len(validation[0]))
    settings = LoopSettings(epochs=recipe["epochs"], learning_rate=recipe["learning_rate"], keep_best=True)
    loop = TrainingLoop("fine-tuning", model, optimizer, settings, generator, state_path, resume_key, "fine-tuning")

    def run_epoch(loop, epoch):
        if sampling is None:
            order = generator.permutation(len(crops))
        else:
            order = generator.choice(len(crops), size=len(crops), p=sampling)
        for begin in range(0, len(order), recipe["batch_size"]):
            chunk = order[begin : begin + recipe["batch_size"]]
            if len(chunk) < 2:
                continue  # batch normalisation needs two images
            images = torch.stack(
                [transform(torch.from_numpy(np.ascontiguousarray(crops[i])).permute(2, 0, 1)) for i in chunk]
            )
            images = preprocess(
                list(images.permute(0, 2, 3, 1).numpy()),
                spec["input_size"],
                spec["mean"],
                spec["std"],
                spec["channels"],
            )
            images = torch.stack([erasing(image) for image in images]).to(device)
            mask = torch.ones(len(chunk), dtype=torch.bool, device=device)
            loop.step(loss_function(model(images), targets[chunk].to(device), mask))

    final, history = loop.run(
        run_epoch, lambda evaluated: evaluate_frames(evaluated, spec, task, validation, device), log_learning_rate=False
    )
    return final.state_dict(), history


@torch.no_grad()
def evaluate_frames(model, spec, task, validation, device="cpu", batch_size=64):
    crops, rows = validation
    model.eval()
    outputs = []
    for begin in range(0, len(crops), batch_size):
        images = preprocess(
            crops[begin : begin + batch_size], spec["input_size"], spec["mean"], spec["std"], spec["channels"]
        )
        outputs.append(get_task(task).decode(model(images.to(device))).cpu().numpy())
    return score_outputs(task, rows.select(get_task(task).label_columns).to_numpy(), np.concatenate(outputs))

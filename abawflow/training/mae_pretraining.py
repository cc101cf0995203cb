"""MAE pre-training (paper 003) on the aligned face crops: self-supervised, no labels read."""

import logging

import numpy as np
import torch

from abawflow.core.errors import ConfigError
from abawflow.stage_one.feature_stage import preprocess
from abawflow.training.face_samples import sample_face_crops
from abawflow.training.loop import LoopSettings, TrainingLoop
from abawflow.training.reproducibility import seed_everything
from models.mae import MaskedAutoencoder

log = logging.getLogger(__name__)


def read_face_crops(face_tables, subjects, every=1):
    """RGB crops of every ``every``-th frame with a face of ``subjects``."""
    return sample_face_crops(face_tables, subjects, every)[0]


def pretrain_mae(encoder, spec, crops, recipe, device="cpu", state_path=None, resume_key=None):
    """Pre-train ``encoder`` (a timm ViT) as an MAE on ``crops``; returns (the MaskedAutoencoder, history): its
    ``encoder`` is the backbone, the decoder only draws the report's reconstructions.
    With ``state_path``, a killed run resumes after its last finished epoch (abawflow.training.loop)."""
    if not crops:
        raise ConfigError("MAE pre-training: no face crops in the training videos")
    seed_everything(recipe["seed"])
    model = MaskedAutoencoder(
        encoder, recipe["decoder_width"], recipe["decoder_layers"], recipe["decoder_heads"], recipe["mask_ratio"]
    ).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["learning_rate"], weight_decay=recipe["weight_decay"])
    images = preprocess(crops, spec["input_size"], spec["mean"], spec["std"], spec.get("channels", "rgb"))
    generator = np.random.default_rng(recipe["seed"])
    log.info("MAE pre-training on %d crops, mask ratio %.2f", len(crops), recipe["mask_ratio"])
    settings = LoopSettings(epochs=recipe["epochs"], learning_rate=recipe["learning_rate"])
    loop = TrainingLoop("MAE", model, optimizer, settings, generator, state_path, resume_key, "MAE pre-training")

    def run_epoch(loop, epoch):
        order = generator.permutation(len(images))
        for begin in range(0, len(order), recipe["batch_size"]):
            batch = images[order[begin : begin + recipe["batch_size"]]].to(device)
            flip = torch.from_numpy(generator.random(len(batch)) < 0.5).to(device)
            batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
            loop.step(model(batch)[0])

    final, history = loop.run(run_epoch, loss_name="reconstruction_loss", log_learning_rate=False)
    return final, history

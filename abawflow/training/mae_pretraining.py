"""MAE pre-training (paper 003) on the aligned face crops: self-supervised, no labels read."""

import logging

import numpy as np
import torch

from abawflow.core.errors import ConfigError
from abawflow.stage_one.feature_stage import preprocess
from abawflow.training.face_samples import sample_face_crops
from abawflow.training.image_corpus import ImageCorpus
from abawflow.training.loop import LoopSettings, TrainingLoop
from abawflow.training.reproducibility import seed_everything
from models.backbones import create_backbone, vit_start_state
from models.mae import MaskedAutoencoder

log = logging.getLogger(__name__)


def read_face_crops(face_tables, subjects, every=1):
    """RGB crops of every ``every``-th frame with a face of ``subjects``."""
    return sample_face_crops(face_tables, subjects, every)[0]


def vit_encoder(name, spec, weights_follow):
    """The backbone's ViT: random weights seeded by its ``seed`` unless ``weights_follow``."""
    return create_backbone(
        spec["architecture"],
        None,
        True,
        name,
        spec["model_options"],
        spec["seed"],
        weights_follow,
        spec.get("patch_token_grid", 0),
    )


def start_encoder(name, spec):
    """The ViT an MAE pre-training starts from: ``mae.start_from``'s weights, resampled to the backbone's input
    and patch size, or random weights seeded by the backbone's ``seed``; the same every time it is built."""
    start = spec["mae"].get("start_from")
    encoder = vit_encoder(name, spec, weights_follow=bool(start))
    if start:
        encoder.load_state_dict(vit_start_state(encoder, start))
        log.info("backbone %s: MAE pre-training starts from %s", name, start)
    return encoder


def masked_autoencoder(encoder, recipe):
    return MaskedAutoencoder(
        encoder, recipe["decoder_width"], recipe["decoder_layers"], recipe["decoder_heads"], recipe["mask_ratio"]
    )


def decoder_state(model):
    """A MaskedAutoencoder's weights less its encoder's: what a checkpoint keeps beside the backbone."""
    return {key: value for key, value in model.state_dict().items() if not key.startswith("encoder.")}


def trained_autoencoder(name, spec, checkpoint):
    """The MaskedAutoencoder of a pretrain_mae checkpoint (its encoder and its decoder), on the CPU."""
    encoder = vit_encoder(name, spec, weights_follow=True)
    model = masked_autoencoder(encoder, spec["mae"])
    model.encoder.load_state_dict(checkpoint["state_dict"])
    model.load_state_dict({**model.state_dict(), **checkpoint["decoder"]})
    return model


def pretrain_mae(encoder, spec, crops, recipe, device="cpu", state_path=None, resume_key=None):
    """Pre-train ``encoder`` (a timm ViT) as an MAE on ``crops`` (RGB arrays, or an ImageCorpus decoded a batch
    at a time); returns (the MaskedAutoencoder, history): its ``encoder`` is the backbone, the decoder only
    draws the report's reconstructions.
    With ``state_path``, a killed run resumes after its last finished epoch (abawflow.training.loop)."""
    corpus = crops if isinstance(crops, ImageCorpus) else ImageCorpus.of_arrays(crops)
    if not len(corpus):
        raise ConfigError("MAE pre-training: no images in its corpora (no face crops in the training videos?)")
    seed_everything(recipe["seed"])
    model = masked_autoencoder(encoder, recipe).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["learning_rate"], weight_decay=recipe["weight_decay"])
    generator = np.random.default_rng(recipe["seed"])
    parts = ", ".join(f"{name} {count}" for name, count in corpus.sources)
    log.info("MAE pre-training on %d images (%s), mask ratio %.2f", len(corpus), parts, recipe["mask_ratio"])

    def images(positions):
        crops = corpus.images(positions)
        return preprocess(crops, spec["input_size"], spec["mean"], spec["std"], spec.get("channels", "rgb"))

    settings = LoopSettings(epochs=recipe["epochs"], learning_rate=recipe["learning_rate"])
    loop = TrainingLoop("MAE", model, optimizer, settings, generator, state_path, resume_key, "MAE pre-training")

    def run_epoch(loop, epoch):
        order = generator.permutation(len(corpus))
        for begin in range(0, len(order), recipe["batch_size"]):
            batch = images(order[begin : begin + recipe["batch_size"]]).to(device)
            flip = torch.from_numpy(generator.random(len(batch)) < 0.5).to(device)
            batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
            loop.step(model(batch)[0])

    final, history = loop.run(run_epoch, loss_name="reconstruction_loss", log_learning_rate=False)
    return final, history

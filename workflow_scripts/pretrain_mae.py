"""Rule pretrain_mae: a timm ViT pre-trained as a masked autoencoder on its corpora (face crops, image folders)."""

import logging

from abawflow.core import execution
from abawflow.core.devices import resolve_device
from abawflow.core.rule_runner import run
from abawflow.training.checkpoints import TrainingFiles
from abawflow.training.image_corpus import pretraining_corpus
from abawflow.training.mae_pretraining import decoder_state, pretrain_mae, start_encoder

log = logging.getLogger("abawflow.training.mae_pretraining")


def main(snakemake):
    spec = snakemake.params.backbone
    recipe = spec["mae"]
    device = resolve_device(execution.settings(snakemake.config).device)
    encoder = start_encoder(snakemake.wildcards.backbone, spec)
    crops = pretraining_corpus(snakemake.params.corpora, recipe["seed"])
    # Per-epoch state beside the output, so that a killed job resumes; it belongs to these inputs and settings.
    files = TrainingFiles(snakemake.output.weights, "mae_state.pt", [spec, snakemake.params.code], snakemake.input)
    model, history = pretrain_mae(encoder, spec, crops, recipe, device, files.state_path, files.resume_key)
    # The encoder is the backbone; the decoder is kept for the report's reconstructions (evaluate_mae_pretraining).
    checkpoint = {
        "kind": "mae",
        "architecture": spec["architecture"],
        "state_dict": model.encoder.state_dict(),
        "decoder": decoder_state(model),
    }
    files.finish(checkpoint, history, snakemake.output.history)


run(snakemake, main)  # noqa: F821

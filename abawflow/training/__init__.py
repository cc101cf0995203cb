"""Stage two's training: per-subject sequences over feature matrices, the one training loop, temporal
models, and the backbones' own training (fine-tuning, MAE pre-training)."""

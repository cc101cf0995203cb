"""Temporal models over per-frame features: fusion -> temporal encoder -> task head.

Paper 000 (ABAW7), Eq. 1-4: each backbone's feature sequence is mapped by an
affine layer to a common width, a sinusoidal positional encoding is added, the
sequences are concatenated, and a Transformer encoder models time.
"""

import math

import torch
from torch import nn

from models.registry import create, register


class SinusoidalPositionalEncoding(nn.Module):
    def __init__(self, width, max_length=10000):
        super().__init__()
        position = torch.arange(max_length).unsqueeze(1)
        frequency = torch.exp(torch.arange(0, width, 2) * (-math.log(10000.0) / width))
        table = torch.zeros(max_length, width)
        table[:, 0::2] = torch.sin(position * frequency)
        table[:, 1::2] = torch.cos(position * frequency[: width // 2])
        self.register_buffer("table", table, persistent=False)

    def forward(self, x):
        return x + self.table[: x.shape[1]]


@register("fusion", "affine_concat")
class AffineConcatFusion(nn.Module):
    """Per-backbone affine projection to ``width`` plus positional encoding, then concatenation (paper 000, Eq. 1-2)."""

    def __init__(self, input_widths, width=64, dropout=0.1):
        super().__init__()
        # Per-backbone standardisation, fitted on the training frames (backbone outputs differ wildly in scale).
        for index, w in enumerate(input_widths):
            self.register_buffer(f"input_mean_{index}", torch.zeros(w))
            self.register_buffer(f"input_std_{index}", torch.ones(w))
        self.projections = nn.ModuleList(nn.Linear(w, width) for w in input_widths)
        self.positional_encoding = SinusoidalPositionalEncoding(width)
        self.dropout = nn.Dropout(dropout)
        self.output_width = width * len(input_widths)

    def set_input_statistics(self, means, stds):
        for index, (mean, std) in enumerate(zip(means, stds, strict=True)):
            getattr(self, f"input_mean_{index}").copy_(torch.as_tensor(mean))
            getattr(self, f"input_std_{index}").copy_(torch.as_tensor(std).clamp_min(1e-6))

    def forward(self, features):
        features = [
            (x - getattr(self, f"input_mean_{i}")) / getattr(self, f"input_std_{i}") for i, x in enumerate(features)
        ]
        projected = [
            self.positional_encoding(projection(x)) for projection, x in zip(self.projections, features, strict=True)
        ]
        return self.dropout(torch.cat(projected, dim=-1))


@register("encoder", "transformer")
class TransformerTemporalEncoder(nn.Module):
    """Transformer encoder over time (paper 000, Eq. 3); frames marked in ``padding_mask`` are not attended to."""

    def __init__(self, input_width, layers=2, heads=4, feedforward=128, dropout=0.1):
        super().__init__()
        layer = nn.TransformerEncoderLayer(input_width, heads, feedforward, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.output_width = input_width

    def forward(self, x, padding_mask):
        # A window with no visible face at all would make attention undefined; let it attend everywhere.
        padding_mask = padding_mask & ~padding_mask.all(dim=1, keepdim=True)
        return self.encoder(x, src_key_padding_mask=padding_mask)


class TemporalModel(nn.Module):
    def __init__(self, fusion, encoder, head_size):
        super().__init__()
        self.fusion = fusion
        self.encoder = encoder
        self.head = nn.Linear(encoder.output_width, head_size)

    def forward(self, features, padding_mask):
        """``features``: list of (batch, time, width_i) tensors; ``padding_mask``: (batch, time), True = ignore."""
        return self.head(self.encoder(self.fusion(features), padding_mask))


def create_temporal_model(input_widths, head_size, fusion, encoder):
    """Build from config dicts: ``fusion = {"name": ..., **options}``, same for ``encoder``."""
    fusion_options = {k: v for k, v in fusion.items() if k != "name"}
    encoder_options = {k: v for k, v in encoder.items() if k != "name"}
    fusion_module = create("fusion", fusion["name"], input_widths=input_widths, **fusion_options)
    encoder_module = create("encoder", encoder["name"], input_width=fusion_module.output_width, **encoder_options)
    return TemporalModel(fusion_module, encoder_module, head_size)

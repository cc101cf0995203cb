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


def zero_faceless(x, padding_mask):
    """Zero the frames without a face, for modules whose output mixes neighbouring frames."""
    return x.masked_fill(padding_mask.unsqueeze(-1), 0.0)


class StandardisedFusion(nn.Module):
    """Base of the fusions: per-backbone standardisation, fitted on the training frames
    (backbone outputs differ wildly in scale)."""

    def __init__(self, input_widths):
        super().__init__()
        for index, w in enumerate(input_widths):
            self.register_buffer(f"input_mean_{index}", torch.zeros(w))
            self.register_buffer(f"input_std_{index}", torch.ones(w))

    def set_input_statistics(self, means, stds):
        for index, (mean, std) in enumerate(zip(means, stds, strict=True)):
            getattr(self, f"input_mean_{index}").copy_(torch.as_tensor(mean))
            getattr(self, f"input_std_{index}").copy_(torch.as_tensor(std).clamp_min(1e-6))

    def standardise(self, features):
        return [
            (x - getattr(self, f"input_mean_{i}")) / getattr(self, f"input_std_{i}") for i, x in enumerate(features)
        ]


@register("fusion", "affine_concat")
class AffineConcatFusion(StandardisedFusion):
    """Per-backbone affine projection to ``width`` plus positional encoding, then concatenation (paper 000, Eq. 1-2)."""

    def __init__(self, input_widths, width=64, dropout=0.1, positional_encoding=True):
        super().__init__(input_widths)
        self.projections = nn.ModuleList(nn.Linear(w, width) for w in input_widths)
        # Positions restart in every window; recurrent encoders (paper 001) go without them.
        self.positional_encoding = SinusoidalPositionalEncoding(width) if positional_encoding else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.output_width = width * len(input_widths)

    def forward(self, features, padding_mask=None):
        projected = [
            self.positional_encoding(projection(x))
            for projection, x in zip(self.projections, self.standardise(features), strict=True)
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


@register("fusion", "conv1d")
class Conv1dFusion(StandardisedFusion):
    """Per-backbone 1-D convolution embedding to ``width``, then concatenation (paper 002, Eq. 1)."""

    def __init__(self, input_widths, width=64, kernel_size=3, dropout=0.1):
        super().__init__(input_widths)
        self.embeddings = nn.ModuleList(
            nn.Conv1d(w, width, kernel_size, padding=kernel_size // 2) for w in input_widths
        )
        self.dropout = nn.Dropout(dropout)
        self.output_width = width * len(input_widths)

    def forward(self, features, padding_mask=None):
        embedded = []
        for embedding, x in zip(self.embeddings, self.standardise(features), strict=True):
            if padding_mask is not None:  # the kernel spans neighbours: faceless frames must not leak into them
                x = zero_faceless(x, padding_mask)
            embedded.append(embedding(x.transpose(1, 2)).transpose(1, 2))
        return self.dropout(torch.cat(embedded, dim=-1))


class RecurrentTemporalEncoder(nn.Module):
    """GRU or LSTM over a segment; the last hidden state of one segment starts the next (paper 001, Eq. 1-2).

    ``forward_with_state`` carries the state; segments are consecutive and do not overlap.
    """

    cell = None

    def __init__(self, input_width, hidden=128, layers=1, dropout=0.0):
        super().__init__()
        self.rnn = self.cell(input_width, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.output_width = hidden

    def forward_with_state(self, x, padding_mask, state=None):
        # Frames without a face carry no feature: the recurrence sees zeros there.
        return self.rnn(zero_faceless(x, padding_mask), state)

    def forward(self, x, padding_mask):
        return self.forward_with_state(x, padding_mask)[0]


@register("encoder", "gru")
class GRUTemporalEncoder(RecurrentTemporalEncoder):
    cell = nn.GRU


@register("encoder", "lstm")
class LSTMTemporalEncoder(RecurrentTemporalEncoder):
    cell = nn.LSTM


class TemporalConvolutionBlock(nn.Module):
    """Residual block of two dilated 1-D convolutions, lengths preserved."""

    def __init__(self, width, kernel_size, dilation, dropout):
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.layers = nn.Sequential(
            nn.Conv1d(width, width, kernel_size, padding=padding, dilation=dilation),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv1d(width, width, kernel_size, padding=padding, dilation=dilation),
            nn.ReLU(),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        return x + self.layers(x)


@register("encoder", "tcn_transformer")
class TCNTransformerEncoder(nn.Module):
    """Dilated temporal convolutions (dilation 1, 2, 4, ...), then a Transformer encoder (paper 003, Sec. 3.3-3.4)."""

    def __init__(self, input_width, blocks=3, kernel_size=3, layers=2, heads=4, feedforward=128, dropout=0.1):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"tcn_transformer: kernel_size must be odd to keep lengths, got {kernel_size}")
        self.convolutions = nn.Sequential(
            *(TemporalConvolutionBlock(input_width, kernel_size, 2**index, dropout) for index in range(blocks))
        )
        self.transformer = TransformerTemporalEncoder(input_width, layers, heads, feedforward, dropout)
        self.output_width = input_width

    def forward(self, x, padding_mask):
        x = self.convolutions(zero_faceless(x, padding_mask).transpose(1, 2)).transpose(1, 2)
        return self.transformer(x, padding_mask)


@register("encoder", "smooth")
class SmoothPredictingEncoder(nn.Module):
    """Smooth Predicting (paper 004, Eq. 1): each frame's feature plus the mean over a window of ``window`` frames
    centred on it. The mean runs over the frames with a face (the paper's videos have no gaps)."""

    def __init__(self, input_width, window=16):
        super().__init__()
        self.window = window
        self.output_width = input_width

    def forward(self, x, padding_mask):
        visible = (~padding_mask).unsqueeze(1).to(x.dtype)  # (batch, 1, time)
        values = x.transpose(1, 2) * visible
        half = self.window // 2
        kernel = torch.ones(1, 1, 2 * half + 1, dtype=x.dtype, device=x.device)
        totals = nn.functional.conv1d(values.reshape(-1, 1, values.shape[-1]), kernel, padding=half)
        totals = totals.reshape(values.shape)
        counts = nn.functional.conv1d(visible, kernel, padding=half).clamp_min(1.0)
        return x + (totals / counts).transpose(1, 2)


class TemporalModel(nn.Module):
    def __init__(self, fusion, encoder, head_size):
        super().__init__()
        self.fusion = fusion
        self.encoder = encoder
        self.head = nn.Linear(encoder.output_width, head_size)

    def forward(self, features, padding_mask):
        """``features``: list of (batch, time, width_i) tensors; ``padding_mask``: (batch, time), True = ignore."""
        return self.head(self.encoder(self.fusion(features, padding_mask), padding_mask))

    @property
    def carries_state(self):
        """Recurrent encoders: trained and run over consecutive segments, the state handed on (paper 001)."""
        return hasattr(self.encoder, "forward_with_state")

    def forward_with_state(self, features, padding_mask, state=None):
        encoded, state = self.encoder.forward_with_state(self.fusion(features, padding_mask), padding_mask, state)
        return self.head(encoded), state


def create_temporal_model(input_widths, head_size, fusion, encoder):
    """Build from config dicts: ``fusion = {"name": ..., **options}``, same for ``encoder``."""
    fusion_options = {k: v for k, v in fusion.items() if k != "name"}
    encoder_options = {k: v for k, v in encoder.items() if k != "name"}
    fusion_module = create("fusion", fusion["name"], input_widths=input_widths, **fusion_options)
    encoder_module = create("encoder", encoder["name"], input_width=fusion_module.output_width, **encoder_options)
    return TemporalModel(fusion_module, encoder_module, head_size)

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


@register("encoder", "attention_concat")
class AttentionConcatEncoder(nn.Module):
    """Paper 002's modality encoder (Eq. 2-3): the input, its multi-head self-attention and a Transformer
    encoder's output, concatenated (three times the input width)."""

    def __init__(self, input_width, layers=1, heads=2, feedforward=None, dropout=0.5):
        super().__init__()
        if input_width % heads:
            raise ValueError(f"attention_concat: {heads} heads do not divide the input width {input_width}")
        self.attention = nn.MultiheadAttention(input_width, heads, dropout=dropout, batch_first=True)
        self.transformer = TransformerTemporalEncoder(
            input_width, layers, heads, feedforward or 2 * input_width, dropout
        )
        self.output_width = 3 * input_width

    def forward(self, x, padding_mask):
        attended_mask = padding_mask & ~padding_mask.all(dim=1, keepdim=True)
        attended = self.attention(x, x, x, key_padding_mask=attended_mask, need_weights=False)[0]
        return torch.cat([x, attended, self.transformer(x, padding_mask)], dim=-1)


def masked_mean(x, padding_mask):
    """Mean over time of the frames not in ``padding_mask`` (of every frame where all are masked)."""
    weights = (~padding_mask).to(x.dtype)
    weights = torch.where(weights.sum(1, keepdim=True) > 0, weights, torch.ones_like(weights))
    return (x * weights.unsqueeze(-1)).sum(1) / weights.sum(1, keepdim=True)


class AudioVisualModel(nn.Module):
    """Paper 002 (Sec. 3.1.1, Eq. 1-7): the fused inputs (one embedding block per backbone) split by modality;
    an encoder per modality present (audio, vision, text); with ``interaction`` and two or more modalities, an
    encoder over their embeddings concatenated (Eq. 5-6).
    Each branch is pooled over the clip; the modality branches (g_cat, Eq. 7) and the interaction branch are
    projected, concatenated and regressed. The clip's output is repeated at every frame, so that video-level
    tasks train and predict through the frame-level interface."""

    carries_state = False

    def __init__(
        self,
        fusion,
        encoder_config,
        head_sizes,
        heads,
        modalities,
        interaction=True,
        interaction_encoder=None,
        projection=64,
    ):
        super().__init__()
        if len(head_sizes) != 1:
            raise ValueError(f"audio_visual trains one task, not {list(head_sizes)}")
        modalities = list(modalities)
        if not modalities or fusion.output_width % len(modalities):
            raise ValueError("audio_visual needs a fusion with one block of equal width per backbone")
        block = fusion.output_width // len(modalities)
        self.fusion = fusion
        self.columns = {}
        for modality in ("audio", "vision", "text"):
            inputs = [k for k, m in enumerate(modalities) if m == modality]
            if inputs:
                self.register_buffer(
                    f"{modality}_columns",
                    torch.tensor([k * block + c for k in inputs for c in range(block)]),
                    persistent=False,
                )
                self.columns[modality] = len(inputs) * block
        self.encoders = nn.ModuleDict(
            {
                modality: create("encoder", encoder_config["name"], input_width=width, **_options(encoder_config))
                for modality, width in self.columns.items()
            }
        )
        modality_width = sum(encoder.output_width for encoder in self.encoders.values())
        self.project_modalities = nn.Sequential(nn.Linear(modality_width, projection), nn.ReLU())
        width = projection
        self.interaction = None
        if interaction and len(self.columns) >= 2:
            config = interaction_encoder or encoder_config
            self.interaction = create("encoder", config["name"], input_width=fusion.output_width, **_options(config))
            self.project_interaction = nn.Sequential(nn.Linear(self.interaction.output_width, projection), nn.ReLU())
            width += projection
        self.tasks = list(head_sizes)
        self.heads = nn.ModuleDict(build_heads(width, head_sizes, heads))

    @property
    def head(self):
        return self.heads[self.tasks[0]]

    def forward(self, features, padding_mask):
        fused = self.fusion(features, padding_mask)
        pooled = [
            masked_mean(self.encoders[m](fused[..., getattr(self, f"{m}_columns")], padding_mask), padding_mask)
            for m in self.encoders
        ]
        branches = [self.project_modalities(torch.cat(pooled, dim=-1))]
        if self.interaction is not None:
            ordered = torch.cat([fused[..., getattr(self, f"{m}_columns")] for m in self.encoders], dim=-1)
            branches.append(
                self.project_interaction(masked_mean(self.interaction(ordered, padding_mask), padding_mask))
            )
        output = self.head(torch.cat(branches, dim=-1))
        return output.unsqueeze(1).expand(-1, fused.shape[1], -1)


NEGATIVE_EXPRESSIONS = (1, 2, 3, 5)  # anger, disgust, fear, sadness in the ABAW class order
COARSE_EXPRESSIONS = (0, None, 4, 6, 7)  # neutral, the negative group, happiness, surprise, other
IMPOSSIBLE = -1e4  # log(0) that stays finite through softmax and averaging


def check_expression_head(name, head_size):
    """The expression heads split EXPR's 8 classes; any other task's outputs are a config mistake."""
    if head_size != 8:
        raise ValueError(f"{name} is an EXPR head (8 classes), not one of {head_size} outputs")


@register("head", "linear")
class LinearHead(nn.Linear):
    """One linear layer per task (paper 001, Eq. 7)."""

    def __init__(self, input_width, head_size):
        super().__init__(input_width, head_size)


@register("head", "expression_cascade")
class ExpressionCascadeHead(nn.Module):
    """Coarse-to-fine cascade (paper 004, Sec. 3.2): a 5-way coarse classifier with the four negative
    expressions merged, and a 4-way classifier inside the negative group.

    Outputs 8-class log-probabilities. In training they are log p(coarse) + log p(fine | negative) for the
    negative classes, so cross-entropy on them is the coarse cross-entropy plus the fine one on negative
    frames: both stages are trained. In evaluation, ``routing="hard"`` follows the paper: a frame whose
    coarse argmax is Negative gets the fine distribution, any other frame its coarse distribution;
    ``routing="soft"`` keeps the product.
    """

    def __init__(self, input_width, head_size, routing="hard"):
        super().__init__()
        check_expression_head("expression_cascade", head_size)
        if routing not in ("hard", "soft"):
            raise ValueError(f"expression_cascade: routing must be 'hard' or 'soft', got {routing!r}")
        self.coarse = nn.Linear(input_width, len(COARSE_EXPRESSIONS))
        self.fine = nn.Linear(input_width, len(NEGATIVE_EXPRESSIONS))
        self.routing = routing

    def forward(self, x):
        coarse = torch.log_softmax(self.coarse(x), dim=-1)
        fine = torch.log_softmax(self.fine(x), dim=-1)
        if self.training or self.routing == "soft":
            return self.combine(coarse, coarse[..., 1:2] + fine)
        routed = coarse.argmax(dim=-1, keepdim=True) == 1
        impossible = torch.full_like(fine, IMPOSSIBLE)
        coarse_only = torch.cat([coarse[..., :1], torch.full_like(coarse[..., :1], IMPOSSIBLE), coarse[..., 2:]], -1)
        return torch.where(
            routed, self.combine(torch.full_like(coarse, IMPOSSIBLE), fine), self.combine(coarse_only, impossible)
        )

    @staticmethod
    def combine(coarse, negative):
        """8-class scores from 5 coarse scores (the negative group's unused) and 4 negative-class scores."""
        columns = [None] * 8
        for position, expression in enumerate(COARSE_EXPRESSIONS):
            if expression is not None:
                columns[expression] = coarse[..., position]
        for position, expression in enumerate(NEGATIVE_EXPRESSIONS):
            columns[expression] = negative[..., position]
        return torch.stack(columns, dim=-1)


@register("head", "expression_coarse")
class ExpressionCoarseHead(nn.Module):
    """Paper 004's coarse net as a head of its own: 5 classes, the four negative expressions merged.

    Outputs 8-class log-probabilities with the negative group's probability shared equally by its four classes,
    so that cross-entropy on them is the 5-way one (plus log 4 on negative frames) and its predictions are EXPR
    predictions: a cascade ensemble (``ensembles.<name>.cascade``) hands the group to a negative net.
    """

    def __init__(self, input_width, head_size):
        super().__init__()
        check_expression_head("expression_coarse", head_size)
        self.coarse = nn.Linear(input_width, len(COARSE_EXPRESSIONS))

    def forward(self, x):
        coarse = torch.log_softmax(self.coarse(x), dim=-1)
        shared = coarse[..., 1:2] - math.log(len(NEGATIVE_EXPRESSIONS))
        return ExpressionCascadeHead.combine(coarse, shared.expand(*shared.shape[:-1], len(NEGATIVE_EXPRESSIONS)))


@register("head", "expression_negative")
class ExpressionNegativeHead(nn.Module):
    """Paper 004's negative net as a head of its own: anger, disgust, fear or sadness, trained on the frames
    labelled one of them (loss ``negative_cross_entropy``). Outputs 8-class log-probabilities, the other four
    classes impossible."""

    loss = "negative_cross_entropy"  # the only loss it trains with (abawflow.plan.compiler.head_losses)

    def __init__(self, input_width, head_size):
        super().__init__()
        check_expression_head("expression_negative", head_size)
        self.fine = nn.Linear(input_width, len(NEGATIVE_EXPRESSIONS))

    def forward(self, x):
        fine = torch.log_softmax(self.fine(x), dim=-1)
        impossible = torch.full_like(fine[..., :1], IMPOSSIBLE).expand(*fine.shape[:-1], len(COARSE_EXPRESSIONS))
        return ExpressionCascadeHead.combine(impossible, fine)


def run_encoder(encoder, x, padding_mask, state=None):
    """(output, state) of any encoder; stateless encoders return state None."""
    if hasattr(encoder, "forward_with_state"):
        return encoder.forward_with_state(x, padding_mask, state)
    return encoder(x, padding_mask), None


class TemporalModel(nn.Module):
    """fusion -> shared temporal encoder -> optional task encoders -> one head per task.

    The tasks' outputs are concatenated in task order. ``task_encoders`` (share-bottom, feedback) are
    task-specific encoders on the shared encoder's output; ``feedback`` maps a target task to its source,
    whose encoder states join the target encoder's input with the gradient detached (paper 001, Eq. 11-14).
    """

    def __init__(self, fusion, encoder, heads, task_encoders=None, feedback=None):
        super().__init__()
        self.fusion = fusion
        self.encoder = encoder
        self.tasks = list(heads)
        self.heads = nn.ModuleDict(heads)
        self.task_encoders = nn.ModuleDict(task_encoders or {})
        self.feedback = dict(feedback or {})

    @property
    def head(self):
        """The head of a single-task model."""
        return self.heads[self.tasks[0]]

    @property
    def carries_state(self):
        """Recurrent encoders: trained and run over consecutive segments, the state handed on (paper 001)."""
        return any(hasattr(e, "forward_with_state") for e in [self.encoder, *self.task_encoders.values()])

    def forward_with_state(self, features, padding_mask, state=None):
        state = state or {}
        new_state = {}
        shared, new_state["shared"] = run_encoder(
            self.encoder, self.fusion(features, padding_mask), padding_mask, state.get("shared")
        )
        encoded = {}
        for task in self.encoding_order():
            if task not in self.task_encoders:
                encoded[task] = shared
                continue
            x = shared
            if task in self.feedback:
                x = torch.cat([shared, encoded[self.feedback[task]].detach()], dim=-1)
            encoded[task], new_state[task] = run_encoder(self.task_encoders[task], x, padding_mask, state.get(task))
        outputs = torch.cat([self.heads[task](encoded[task]) for task in self.tasks], dim=-1)
        return outputs, new_state

    def forward(self, features, padding_mask):
        """``features``: list of (batch, time, width_i) tensors; ``padding_mask``: (batch, time), True = ignore."""
        return self.forward_with_state(features, padding_mask)[0]

    def encoding_order(self):
        """Tasks with feedback sources first."""
        sources = [self.feedback[t] for t in self.tasks if t in self.feedback]
        return [t for t in self.tasks if t in sources] + [t for t in self.tasks if t not in sources]


def _options(component):
    return {k: v for k, v in component.items() if k != "name"}


@register("framework", "single")
def single_task(fusion, encoder_config, head_sizes, heads, **options):
    if len(head_sizes) != 1:
        raise ValueError(
            f"the single framework trains one task; use basic, share_bottom or feedback for {list(head_sizes)}"
        )
    return basic(fusion, encoder_config, head_sizes, heads, **options)


@register("framework", "basic")
def basic(fusion, encoder_config, head_sizes, heads):
    """Shared encoder, one head per task (paper 001, Eq. 6-7)."""
    encoder = create("encoder", encoder_config["name"], input_width=fusion.output_width, **_options(encoder_config))
    return TemporalModel(fusion, encoder, build_heads(encoder.output_width, head_sizes, heads))


@register("framework", "share_bottom")
def share_bottom(fusion, encoder_config, head_sizes, heads, task_encoder=None):
    """Shared bottom encoder, then a task-specific encoder and head per task (paper 001, Eq. 8-10)."""
    return feedback(fusion, encoder_config, head_sizes, heads, task_encoder=task_encoder, sources={})


@register("framework", "feedback")
def feedback(fusion, encoder_config, head_sizes, heads, task_encoder=None, sources=None):
    """Share-bottom plus, for each ``target: source`` in ``sources``, the source task encoder's states
    concatenated to the target encoder's input, gradient detached (paper 001, Eq. 11-14)."""
    sources = dict(sources or {})
    for target, source in sources.items():
        if target not in head_sizes or source not in head_sizes or target == source:
            raise ValueError(f"feedback: {target} <- {source} must join two different tasks of {list(head_sizes)}")
        if source in sources:
            raise ValueError(f"feedback: {source} is a target and a source; chains are not supported")
    encoder = create("encoder", encoder_config["name"], input_width=fusion.output_width, **_options(encoder_config))
    task_config = task_encoder or encoder_config
    task_encoders, widths = {}, {}
    for task in sorted(head_sizes, key=lambda t: t in sources):  # sources before their targets
        width = encoder.output_width + (widths[sources[task]] if task in sources else 0)
        task_encoders[task] = create("encoder", task_config["name"], input_width=width, **_options(task_config))
        widths[task] = task_encoders[task].output_width
    heads = {task: create_head(widths[task], head_sizes[task], heads.get(task)) for task in head_sizes}
    return TemporalModel(fusion, encoder, heads, task_encoders, sources)


@register("framework", "audio_visual")
def audio_visual(
    fusion, encoder_config, head_sizes, heads, modalities=(), interaction=True, interaction_encoder=None, projection=64
):
    """Paper 002's audio-visual model (AudioVisualModel); ``modalities`` (audio or vision per backbone) come
    from the plan."""
    return AudioVisualModel(
        fusion, encoder_config, head_sizes, heads, modalities, interaction, interaction_encoder, projection
    )


def create_head(input_width, head_size, config=None):
    config = config or {"name": "linear"}
    return create("head", config["name"], input_width=input_width, head_size=head_size, **_options(config))


def build_heads(input_width, head_sizes, heads):
    return {task: create_head(input_width, size, heads.get(task)) for task, size in head_sizes.items()}


def create_temporal_model(input_widths, head_sizes, fusion, encoder, framework=None, heads=None):
    """Build from config dicts: ``fusion = {"name": ..., **options}``, same for ``encoder``, ``framework``
    (default single) and each task's head (default linear). ``head_sizes``: task -> outputs, or one int."""
    if isinstance(head_sizes, int):
        head_sizes = {"task": head_sizes}
    framework = framework or {"name": "single" if len(head_sizes) == 1 else "basic"}
    fusion_module = create("fusion", fusion["name"], input_widths=input_widths, **_options(fusion))
    return create(
        "framework",
        framework["name"],
        fusion=fusion_module,
        encoder_config=encoder,
        head_sizes=head_sizes,
        heads=heads or {},
        **{k: v for k, v in _options(framework).items() if k != "loss_weights"},
    )

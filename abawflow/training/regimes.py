"""How a temporal model meets its videos: one regime object serves training and prediction alike.

- ``Windows``: overlapping windows of ``window`` frames every ``stride`` (Transformer, TCN, Smooth
  Predicting). Training draws shuffled (or class-balanced) windows; prediction averages overlapping windows.
- ``Segments``: consecutive, non-overlapping segments of ``window`` frames, the recurrent state of one handed
  to the next (GRU, LSTM; paper 001). Training runs random groups of videos segment by segment, gradients
  stopping at each border; prediction runs each video's segments in order, so every frame sees its past.
- ``Clips``: one clip of ``steps`` frames per video (video-level tasks such as ERI): a random frame of each of
  ``steps`` equal strides in training, each stride's middle frame in prediction.

In training a regime yields runs: batches that share a recurrent state (one batch per run, except for
``Segments``). In prediction it takes ``forward(batch, state) -> (decoded outputs, state)``, which hands the
state on where the regime ``carries_state``.
"""

import numpy as np
import torch

PREDICTION_BATCH = 32  # windows (or videos, for recurrent encoders and clips) per forward pass in prediction


def window_starts(length, window, stride):
    """Starts of windows covering ``[0, length)``; the last window ends at the sequence end."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


def make_windows(sequences, window, stride):
    """(sequence, start, stop) of every window of every sequence; ``collate`` pads and stacks them."""
    items = []
    for sequence in sequences:
        length = len(sequence.frames)
        for start in window_starts(length, window, stride):
            stop = min(start + window, length)
            items.append((sequence, start, stop))
    return items


def clip_indices(length, steps, generator=None):
    """Frame indices of a video's clip (video-level tasks): ``steps`` equal strides over ``[0, length)``, a random
    frame of each with ``generator`` (training), else each stride's middle frame; every frame of a short video."""
    if length <= steps:
        return np.arange(length)
    edges = np.floor(np.linspace(0, length, steps + 1)).astype(np.int64)
    starts, stops = edges[:-1], np.maximum(edges[1:], edges[:-1] + 1)
    if generator is None:
        return (starts + stops - 1) // 2
    return starts + (generator.random(steps) * (stops - starts)).astype(np.int64)


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


def collate(items, window, with_labels):
    """Pad and stack windows (sequence, start, stop) or clips (sequence, frame indices) of sequences that share
    one feature store: the features are gathered by row index in one operation per backbone, on the store's
    device (resident) or read from its matrices (on disk)."""
    batch = len(items)
    store = items[0][0].store
    rows = np.full((batch, window), -1, np.int64)
    padding = np.ones((batch, window), bool)
    targets = mask = None
    if with_labels:
        targets = np.zeros((batch, window, items[0][0].targets.shape[1]), np.float32)
        mask = np.zeros((batch, window, items[0][0].annotated.shape[1]), bool)
    for b, item in enumerate(items):
        sequence = item[0]
        if sequence.store is not store:
            raise ValueError("a batch mixes sequences of different feature stores")
        if len(item) == 3:  # a window: a slice of the sequence
            frames, indices = slice(item[1], item[2]), np.arange(item[1], item[2])
        else:  # a clip: frame indices
            frames = indices = item[1]
        n = len(indices)
        rows[b, :n] = sequence.offset + indices
        padding[b, :n] = ~sequence.face_found[frames]
        if with_labels:
            targets[b, :n] = sequence.targets[frames]
            mask[b, :n] = sequence.annotated[frames] & sequence.face_found[frames, None]
    result = {"features": store.gather(rows), "padding": torch.from_numpy(padding)}
    if with_labels:
        result["targets"], result["mask"] = torch.from_numpy(targets), torch.from_numpy(mask)
    return result


def interpolate_faceless(values, face_found):
    """Replace outputs of frames without a face by linear interpolation between the nearest face frames."""
    if face_found.all():
        return values
    if not face_found.any():
        return values  # no face anywhere: the predict rule replaces these by the training prior
    frames = np.arange(len(values))
    result = values.copy()
    for column in range(values.shape[1]):
        result[~face_found, column] = np.interp(frames[~face_found], frames[face_found], values[face_found, column])
    return result


class Windows:
    carries_state = False

    def __init__(self, window, stride, items=None, sampling=None):
        """``items``: the training windows (make_windows); ``sampling``: a probability per window
        (class-balanced oversampling), else each epoch shuffles them."""
        self.window, self.stride, self.items, self.sampling = window, stride, items, sampling

    def training_runs(self, sequences, batch_size, generator):
        items = self.items if self.items is not None else make_windows(sequences, self.window, self.stride)
        if self.sampling is None:
            order = generator.permutation(len(items))
        else:
            order = generator.choice(len(items), size=len(items), p=self.sampling)
        for begin in range(0, len(order), batch_size):
            yield [collate([items[i] for i in order[begin : begin + batch_size]], self.window, True)]

    def predict(self, forward, sequences, width):
        totals = [np.zeros((len(s.frames), width), np.float64) for s in sequences]
        counts = [np.zeros(len(s.frames)) for s in sequences]
        items = [
            (k, (sequence, start, min(start + self.window, len(sequence.frames))))
            for k, sequence in enumerate(sequences)
            for start in window_starts(len(sequence.frames), self.window, self.stride)
        ]
        for begin in range(0, len(items), PREDICTION_BATCH):
            chunk = items[begin : begin + PREDICTION_BATCH]
            outputs, _ = forward(collate([item for _, item in chunk], self.window, False))
            for b, (k, (_, start, stop)) in enumerate(chunk):
                totals[k][start:stop] += outputs[b, : stop - start]
                counts[k][start:stop] += 1
        return [
            interpolate_faceless(total / count[:, None], s.face_found)
            for total, count, s in zip(totals, counts, sequences, strict=True)
        ]


class Segments:
    carries_state = True

    def __init__(self, window):
        self.window = window

    def training_runs(self, sequences, batch_size, generator):
        for segments in segment_batches(sequences, self.window, batch_size, generator):
            yield (collate(segment, self.window, True) for segment in segments)

    def predict(self, forward, sequences, width):
        results = []
        for begin in range(0, len(sequences), PREDICTION_BATCH):
            chunk = sequences[begin : begin + PREDICTION_BATCH]
            outputs = [np.zeros((len(s.frames), width), np.float64) for s in chunk]
            state = None
            for start in range(0, max(len(s.frames) for s in chunk), self.window):
                segments = [(s, min(start, len(s.frames)), min(start + self.window, len(s.frames))) for s in chunk]
                decoded, state = forward(collate(segments, self.window, False), state)
                for b, (_, first, stop) in enumerate(segments):
                    outputs[b][first:stop] = decoded[b, : stop - first]
            results += [interpolate_faceless(o, s.face_found) for o, s in zip(outputs, chunk, strict=True)]
        return results


class Clips:
    carries_state = False

    def __init__(self, steps):
        self.steps = steps

    def training_runs(self, sequences, batch_size, generator):
        order = generator.permutation(len(sequences))  # one clip per video, its frames drawn anew every epoch
        for begin in range(0, len(order), batch_size):
            chunk = [sequences[i] for i in order[begin : begin + batch_size]]
            clips = [(s, clip_indices(len(s.frames), self.steps, generator)) for s in chunk]
            yield [collate(clips, self.steps, True)]

    def predict(self, forward, sequences, width):
        results = []
        for begin in range(0, len(sequences), PREDICTION_BATCH):
            chunk = sequences[begin : begin + PREDICTION_BATCH]
            clips = [(s, clip_indices(len(s.frames), self.steps)) for s in chunk]
            decoded, _ = forward(collate(clips, self.steps, False))
            outputs = decoded.astype(np.float64)
            for b, (sequence, rows) in enumerate(clips):
                seen = sequence.face_found[rows]
                values = outputs[b, : len(rows)]
                clip = values[seen].mean(axis=0) if seen.any() else values.mean(axis=0)
                results.append(np.tile(clip, (len(sequence.frames), 1)))
        return results


def regime(carries_state, window, stride, clip_steps=0, items=None, sampling=None):
    """The regime of a model (``carries_state``: a recurrent encoder) and a recipe's windows or clips."""
    if clip_steps:
        return Clips(clip_steps)
    if carries_state:
        return Segments(window)
    return Windows(window, stride, items, sampling)

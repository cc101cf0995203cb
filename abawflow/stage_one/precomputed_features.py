"""Features a dataset ships per video (Hume-Vidmimic2's ``vit/<id>.pkl`` and ``wav2vec2/<id>.pkl``, each a T x 768
array), written as a backbone's feature table with the rows of every other (every frame of every person-video)
by rule read_precomputed_features.

T need not be the video's frame count (wav2vec2 gives about 50 rows a second, a ViT one per sampled frame): the T
rows are taken to cover the video evenly, and frame k (1-based) of ``frames`` takes the row its middle falls in,
floor((k - 0.5) T / frames).
"""

import logging
import pickle
from pathlib import Path

import numpy as np

from abawflow.core.errors import DatasetLayoutError

log = logging.getLogger(__name__)


class PrecomputedFeatureError(DatasetLayoutError):
    """A video's precomputed feature file is missing, unreadable or not a T x D array of finite numbers."""


def find_feature_file(root, folders, name, extension):
    """The first ``<root>/<folder>/<name><extension>`` of ``folders`` that exists."""
    for folder in folders:
        path = Path(root) / folder / f"{name}{extension}"
        if path.is_file():
            return path
    searched = ", ".join(str(Path(root) / folder) for folder in folders)
    raise PrecomputedFeatureError(f"{name}{extension}: no precomputed feature file for video {name!r} in {searched}")


def read_feature_file(path, width):
    """The (T, width) float32 array in ``path``: a pickled numpy array, list or torch tensor, or a .npy file."""
    try:
        if path.suffix == ".npy":
            value = np.load(path, allow_pickle=False)
        else:
            with open(path, "rb") as file:
                value = pickle.load(file)  # noqa: S301 - the dataset's own files, as the config names them
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, ModuleNotFoundError, AttributeError) as error:
        raise PrecomputedFeatureError(f"{path}: cannot read the features ({type(error).__name__}: {error})") from None
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise PrecomputedFeatureError(
            f"{path}: expected a T x {width} array of numbers, got {type(value).__name__}"
        ) from None
    if array.ndim == 1 and array.shape[0] == width:  # one vector for the whole video
        array = array[None]
    if array.ndim != 2 or array.shape[1] != width or array.shape[0] == 0:
        raise PrecomputedFeatureError(
            f"{path}: expected a T x {width} array (output_width {width}), got shape {tuple(array.shape)}"
        )
    if not np.isfinite(array).all():
        row = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        raise PrecomputedFeatureError(f"{path}: row {row} of the features is not finite")
    return array


def spread_rows(rows, frames):
    """(frames, D): the row whose share of the video each frame's middle falls in."""
    index = np.floor((np.arange(frames) + 0.5) * len(rows) / frames).astype(np.int64)
    return rows[np.minimum(index, len(rows) - 1)]


def read_precomputed_features(subjects, root, spec, output_path):
    """Write a precomputed backbone's table for every subject of ``subjects`` (its dataset's index table)."""
    import pyarrow.parquet as pq

    from abawflow.core.atomic import atomic_path
    from abawflow.stage_one.face_table import every_frame_table, feature_schema

    options, width = spec["precomputed"], spec["output_width"]
    schema = feature_schema(width)
    lengths = []
    with atomic_path(output_path) as temporary, pq.ParquetWriter(temporary, schema, compression="zstd") as writer:
        for row in subjects.iter_rows(named=True):
            path = find_feature_file(root, options["folders"], row["video"], options["extension"])
            rows = read_feature_file(path, width)
            lengths.append(len(rows) / max(row["frames"], 1))
            features = spread_rows(rows, row["frames"])
            writer.write_table(every_frame_table(schema, row["subject"], row["video"], row["person"], features))
    if lengths:
        log.info(
            "%d videos -> %d-d features; rows per frame: median %.2f (min %.2f, max %.2f)",
            len(lengths),
            width,
            float(np.median(lengths)),
            min(lengths),
            max(lengths),
        )

"""Feature matrices: a backbone's feature table as one float32 matrix on disk, rows sorted by (subject, frame),
so that every subject is one contiguous row range and a training window is one contiguous read.

The Parquet table stays the product; the matrix (``.npy``) and its row table (``.rows.parquet``: subject,
frame, face_found in matrix order) are what training and prediction read. A ``FeatureStore`` holds the
matrices of one experiment's backbones either resident (in RAM, or in GPU memory when training there) or on
disk, read window by window with ``pread``: host memory stays bounded by ``feature_memory_gb``, not by the
dataset, and jobs on one node share the matrices through the page cache.
"""

import logging
import os

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import torch

from abawflow.core.atomic import atomic_path
from abawflow.core.errors import ConfigError
from abawflow.core.parquet_streaming import stream_batches
from abawflow.core.progress import Progress

log = logging.getLogger(__name__)

ROW_COLUMNS = ["subject", "frame", "face_found"]
CHUNK_BYTES = 64 << 20  # rows read or written at a time: bounded memory whatever the table's size


def chunk_rows(width):
    return max(1, CHUNK_BYTES // (4 * max(width, 1)))


def write_feature_matrix(table_path, matrix_path, rows_path):
    """Convert one feature table (Parquet) to its matrix and row table, atomically, streaming the features.

    The face stage interleaves the people of a ``_left``/``_right`` video frame by frame; sorting puts each
    subject's frames together. Returns the number of rows."""
    source = pq.ParquetFile(table_path)
    width = source.schema_arrow.field("feature").type.list_size
    rows = pl.from_arrow(source.read(columns=ROW_COLUMNS)).with_row_index("row")
    order = rows.sort(["subject", "frame"], maintain_order=True)
    duplicated = order.select(pl.struct("subject", "frame").is_duplicated().any()).item()
    if duplicated:
        raise ConfigError(f"{table_path}: a subject has the same frame twice; rebuild the feature table")
    destination = np.empty(len(rows), np.int64)
    destination[order["row"].to_numpy()] = np.arange(len(rows))
    progress = Progress(log, "feature matrix", len(rows), "rows")
    with atomic_path(matrix_path) as temporary:
        with open(temporary, "wb") as handle:
            np.lib.format.write_array_header_1_0(
                handle, {"descr": "<f4", "fortran_order": False, "shape": (len(rows), width)}
            )
            data_offset = handle.tell()
            handle.truncate(data_offset + 4 * width * len(rows))
            fd, position = handle.fileno(), 0
            for batch in stream_batches(table_path, ["feature"], chunk_rows(width)):
                vectors = batch.column(0).flatten().to_numpy().reshape(-1, width).astype("<f4", copy=False)
                targets = destination[position : position + len(vectors)]
                position += len(vectors)
                write_rows(fd, data_offset, width, targets, vectors)
                progress.advance(len(vectors))
            os.fsync(fd)
    progress.finish()
    with atomic_path(rows_path) as temporary:
        order.drop("row").write_parquet(temporary)
    return len(rows)


def write_rows(fd, data_offset, width, targets, vectors):
    """Write ``vectors[i]`` to matrix row ``targets[i]``, one ``pwrite`` per run of consecutive rows."""
    row_bytes = 4 * width
    for first, stop, position in contiguous_runs(targets):
        run = np.ascontiguousarray(vectors[position : position + stop - first])
        os.pwrite(fd, run.tobytes(), data_offset + row_bytes * first)


def matrix_layout(path):
    """(rows, width, byte offset of the data) of a float32 ``.npy`` matrix, read from its header."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(handle)
        if len(shape) != 2 or fortran or dtype != np.dtype("<f4"):
            raise ConfigError(f"{path}: not a float32 row-major feature matrix; rerun cache_feature_matrix")
        return shape[0], shape[1], handle.tell()


def contiguous_runs(rows):
    """(first row, row after the last, position in ``rows``) of each run of consecutive rows, -1s skipped: a
    window is one run, a clip of frames one run per frame."""
    valid = np.flatnonzero(rows >= 0)
    if not len(valid):
        return []
    breaks = np.flatnonzero((np.diff(rows[valid]) != 1) | (np.diff(valid) != 1)) + 1
    return [(int(rows[run[0]]), int(rows[run[-1]]) + 1, int(run[0])) for run in np.split(valid, breaks)]


class FeatureStore:
    """The rows of one or more backbones' matrices (same rows, in the same order), resident or read from disk.

    ``gather`` returns the features of a batch of windows, one (batch, window, width) tensor per backbone,
    zeros where a window is padded."""

    def __init__(self, matrices=None, paths=None, device="cpu"):
        """``matrices``: arrays, held resident; or ``paths``: matrix files, read from disk (see ``open``)."""
        self.device, self.paths = torch.device(device), list(paths or [])
        if matrices is not None:  # arrays given: resident
            self.resident = [torch.as_tensor(np.asarray(m, np.float32)).to(self.device) for m in matrices]
            self.widths = [int(m.shape[1]) for m in self.resident]
            self.length = int(self.resident[0].shape[0]) if self.resident else 0
            self.files = []
            return
        layouts = [matrix_layout(path) for path in self.paths]
        if len({rows for rows, _, _ in layouts}) > 1:
            raise ConfigError(f"feature matrices {', '.join(map(str, self.paths))} differ in rows; rebuild them")
        self.length = layouts[0][0]
        self.widths = [width for _, width, _ in layouts]
        self.offsets = [offset for _, _, offset in layouts]
        self.files = [os.open(path, os.O_RDONLY) for path in self.paths]
        self.resident = None

    @classmethod
    def open(cls, paths, memory_limit_bytes, device="cpu", log_level=logging.INFO):
        """The matrices at ``paths``, resident when together they fit ``memory_limit_bytes``."""
        store = cls(paths=paths, device=device)
        size = sum(4 * store.length * width for width in store.widths)
        resident = size <= memory_limit_bytes
        log.log(
            log_level,
            "%d feature matrices, %.2f GB: %s",
            len(paths),
            size / 1e9,
            f"resident on {device}"
            if resident
            else f"read from disk per window (limit {memory_limit_bytes / 1e9:.2f} GB)",
        )
        if resident:
            store.resident = [store._load(k) for k in range(len(store.files))]
        return store

    def _load(self, k):
        """Matrix ``k`` onto the device, in chunks (host memory: one chunk)."""
        matrix = torch.empty((self.length, self.widths[k]), dtype=torch.float32, device=self.device)
        step = chunk_rows(self.widths[k])
        for start in range(0, self.length, step):
            stop = min(start + step, self.length)
            matrix[start:stop] = torch.from_numpy(self.read(k, start, stop))
        return matrix

    def read(self, k, start, stop, out=None):
        """Rows ``start:stop`` of matrix ``k`` as a NumPy array (into ``out`` when given)."""
        if self.resident is not None and not self.files:
            return self.resident[k][start:stop].cpu().numpy()
        width = self.widths[k]
        out = np.empty((stop - start, width), np.float32) if out is None else out
        if stop > start:
            wanted = 4 * width * (stop - start)
            got = os.preadv(self.files[k], [memoryview(out).cast("B")], self.offsets[k] + 4 * width * start)
            if got != wanted:
                raise ConfigError(f"{self.paths[k]}: ended {wanted - got} bytes early; rerun cache_feature_matrix")
        return out

    def gather(self, rows):
        """Features of a batch of windows: ``rows`` (batch, window) are matrix rows, -1 where a window is
        padded. Returns one (batch, window, width) tensor per backbone on the device, zeros at padding."""
        rows = np.asarray(rows, np.int64)
        batch, window = rows.shape
        padded = rows < 0
        if self.resident is not None:
            index = torch.from_numpy(np.where(padded, 0, rows).reshape(-1)).to(self.device)
            mask = torch.from_numpy(padded).to(self.device)[..., None]
            return [m.index_select(0, index).view(batch, window, -1).masked_fill(mask, 0.0) for m in self.resident]
        result = []
        for k, width in enumerate(self.widths):
            buffer = np.zeros((batch, window, width), np.float32)
            for b in range(batch):
                for first, last, position in contiguous_runs(rows[b]):
                    self.read(k, first, last, buffer[b, position : position + last - first])
            result.append(torch.from_numpy(buffer).to(self.device))
        return result

    def statistics(self, k, ranges):
        """Mean and standard deviation (float32, as ``np.mean``/``np.std`` of the stacked rows give them) of the
        rows of matrix ``k`` selected by ``ranges``: (start, row mask) pairs, in order. Summed in chunks chained
        row after row, which is the order NumPy's axis-0 reduction adds in, so the result is the same."""
        width = self.widths[k]
        total, count = np.zeros(width, np.float32), 0
        for chunk in self._chunks(k, ranges):
            total = np.concatenate([total[None], chunk]).sum(0)
            count += len(chunk)
        if count == 0:
            raise ConfigError("no training frame with a face to standardise the features on")
        mean = total / count
        squares = np.zeros(width, np.float32)
        for chunk in self._chunks(k, ranges):
            centred = chunk - mean
            squares = np.concatenate([squares[None], centred * centred]).sum(0)
        return mean, np.sqrt(squares / count)

    def _chunks(self, k, ranges):
        step = chunk_rows(self.widths[k])
        for start, selected in ranges:
            for begin in range(0, len(selected), step):
                part = selected[begin : begin + step]
                if part.any():
                    yield self.read(k, start + begin, start + begin + len(part))[part]

    def close(self):
        for fd in self.files:
            os.close(fd)
        self.files = []

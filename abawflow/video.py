"""Streaming video decoding with decord, in bounded batches of frames."""

from pathlib import Path

import numpy as np

from abawflow.errors import VideoDecodeError


def open_video(path, threads=1):
    import decord

    path = Path(path)
    if not path.is_file():
        raise VideoDecodeError(f"{path}: video file not found")
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=threads)
    except Exception as error:  # decord raises its own DECORDError and RuntimeError types
        raise VideoDecodeError(f"{path}: cannot open video ({error}); expected a readable .mp4/.avi file") from None


def iter_frame_batches(path, batch_size, threads=1):
    """Yield ``(first_frame_number, frames)`` with frames as an (n, H, W, 3) RGB uint8 array.

    Frame numbers are 1-based, as in the annotation files. At most
    ``batch_size`` frames are held at a time, whatever the video length.
    """
    reader = open_video(path, threads)
    count = len(reader)
    if count == 0:
        raise VideoDecodeError(f"{path}: the video has no frames")
    for start in range(0, count, batch_size):
        indices = list(range(start, min(start + batch_size, count)))
        try:
            frames = reader.get_batch(indices).asnumpy()
        except Exception as error:
            raise VideoDecodeError(
                f"{path}: cannot decode frames {start + 1}..{indices[-1] + 1} of {count} ({error})"
            ) from None
        yield start + 1, np.ascontiguousarray(frames)

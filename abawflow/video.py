"""Streaming video decoding with decord, in bounded batches of frames."""

from dataclasses import dataclass
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


DECODE_ATTEMPTS = 3


def iter_frame_batches(path, batch_size, threads=1, frames=None):
    """Yield ``(first_frame_number, frames)`` with frames as an (n, H, W, 3) RGB uint8 array.

    Frame numbers are 1-based, as in the annotation files. At most
    ``batch_size`` frames are held at a time, whatever the video length.
    ``frames``: the decodable frame count the index probed (a truncated file indexes a frame it cannot decode).
    """
    reader = open_video(path, threads)
    count = len(reader) if frames is None else min(frames, len(reader))
    if count == 0:
        raise VideoDecodeError(f"{path}: the video has no frames")
    for start in range(0, count, batch_size):
        indices = list(range(start, min(start + batch_size, count)))
        for attempt in range(DECODE_ATTEMPTS):
            try:
                batch = reader.get_batch(indices).asnumpy()
                break
            except Exception as error:
                # decord's decoder thread reads ahead: in a truncated file it can meet the broken last packet
                # before the frames asked for are out. A fresh reader seeks back to them.
                if attempt == DECODE_ATTEMPTS - 1:
                    raise VideoDecodeError(
                        f"{path}: cannot decode frames {start + 1}..{indices[-1] + 1} of {count} ({error})"
                    ) from None
                reader = open_video(path, threads)
        yield start + 1, np.ascontiguousarray(batch)


@dataclass(frozen=True)
class VideoProbe:
    """What the index records of a video: decodable and declared frame counts, frame rate, frame size."""

    frames: int  # what the decoder returns, and so what the face stage reads and a submission covers
    declared_frames: int | None  # what the container's header declares (None where it declares nothing)
    fps: float
    width: int
    height: int
    variable_frame_rate: bool

    @property
    def frames_missing(self):
        """Frames the container declares that do not decode (a truncated file), or 0."""
        return max(0, (self.declared_frames or 0) - self.frames)


LAST_FRAMES_TRIED = 16


def probe_video(path):
    """Open a video, decode its first and last frames and read its frame timestamps: a ``VideoProbe``, or a
    ``VideoDecodeError`` naming the file (and frame) for a video the face stage could not read."""
    import cv2

    reader = open_video(path)
    count = len(reader)
    if count == 0:
        raise VideoDecodeError(f"{path}: the video has no frames")

    def decoded_shape(index):
        # A fresh reader each time: decord's decoder thread may have met the broken packet already.
        for _ in range(DECODE_ATTEMPTS):
            try:
                return open_video(path)[index].shape
            except Exception as error:
                failure = error
        return failure

    shape = decoded_shape(0)
    if isinstance(shape, Exception):
        raise VideoDecodeError(f"{path}: frame 1 of {count} does not decode ({shape})") from None
    # A file cut inside a frame indexes that frame but cannot decode it: the last whole frame ends the video.
    for last in range(count - 1, max(count - 1 - LAST_FRAMES_TRIED, 0), -1):
        if not isinstance(decoded_shape(last), Exception):
            break
    else:
        raise VideoDecodeError(f"{path}: none of its last {LAST_FRAMES_TRIED} frames (of {count}) decodes")
    count = last + 1
    capture = cv2.VideoCapture(str(path))
    declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    capture.release()
    starts = reader.get_frame_timestamp(range(count))[:, 0] if count > 1 else np.zeros(1)
    steps = np.diff(starts)
    # A constant-rate video's steps all equal 1/fps, give or take the time base's rounding.
    variable = bool(len(steps) > 1 and np.ptp(steps) > 0.5 * np.median(steps))
    return VideoProbe(
        count, declared if declared > 0 else None, float(reader.get_avg_fps()), shape[1], shape[0], variable
    )

"""Streaming video decoding in bounded batches of frames (PyAV), frames numbered and probed with decord."""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abawflow.errors import VideoDecodeError

log = logging.getLogger(__name__)


def open_video(path, threads=1):
    import decord

    path = Path(path)
    if not path.is_file():
        raise VideoDecodeError(f"{path}: video file not found")
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=threads)
    except Exception as error:  # decord raises its own DECORDError and RuntimeError types
        raise VideoDecodeError(f"{path}: cannot open video ({error}); expected a readable .mp4/.avi file") from None


# Container headers can be a frame or two off the decoder's count (edit lists, a last partial frame); a
# truncated file misses many more.
FRAME_COUNT_SLACK = 2


def iter_frame_batches(path, batch_size, threads=1, frames=None):
    """Yield ``(first_frame_number, frames)`` with frames as an (n, H, W, 3) RGB uint8 array.

    Frame numbers are 1-based, as in the annotation files. Frames are decoded one after the other with PyAV
    (FFmpeg, ``threads`` decoding threads), so at most ``batch_size`` frames are held at a time, whatever the
    video length: decord's threaded reader decodes ahead of a slow consumer without bound (the whole video,
    dmlc/decord#157, #208), so it only numbers the frames here. PyAV's RGB frames are decord's, pixel for pixel
    (tests/test_video.py). ``frames``: the decodable frame count the index probed (a truncated file indexes a
    frame it cannot decode); by default decord's count.
    """
    import av

    path = Path(path)
    count = len(open_video(path)) if frames is None else frames
    if count == 0:
        raise VideoDecodeError(f"{path}: the video has no frames")
    try:
        container = av.open(str(path))
        stream = container.streams.video[0]
    except (av.error.FFmpegError, IndexError) as error:
        raise VideoDecodeError(f"{path}: cannot open video ({error}); expected a readable .mp4/.avi file") from None
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = max(0, int(threads))
    decoded = container.decode(stream)
    try:
        start = 0
        while start < count:
            size = min(batch_size, count - start)
            batch, filled, failure = None, 0, "the decoder stopped early"
            try:
                for frame in decoded:
                    if batch is None:
                        height, width = frame.height, frame.width
                        batch = np.empty((size, height, width, 3), np.uint8)
                    batch[filled] = frame.to_ndarray(format="rgb24", width=width, height=height)
                    filled += 1
                    if filled == size:
                        break
            except av.error.FFmpegError as error:
                failure = str(error).splitlines()[0][:200]
            if filled < size:
                # A damaged file: OpenCV reads on frame by frame from where FFmpeg stopped.
                log.warning(
                    "%s: PyAV cannot decode frame %d (%s); reading frames %d..%d with OpenCV",
                    path,
                    start + filled + 1,
                    failure,
                    start + filled + 1,
                    count,
                )
                if filled:
                    yield start + 1, batch[:filled]
                yield from opencv_frame_batches(path, start + filled, count, batch_size)
                return
            yield start + 1, batch
            start += size
    finally:
        container.close()


def opencv_frame_batches(path, start, count, batch_size):
    """Frames ``start + 1 .. count`` read one after the other with OpenCV, as RGB batches."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    try:
        for first in range(start, count, batch_size):
            frames = []
            for index in range(first, min(first + batch_size, count)):
                ok, frame = capture.read()
                if not ok:
                    raise VideoDecodeError(f"{path}: frame {index + 1} of {count} does not decode")
                frames.append(frame[..., ::-1])
            yield first + 1, np.ascontiguousarray(np.stack(frames))
    finally:
        capture.release()


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


def count_decodable_frames(path):
    """Decode from the start with OpenCV, one frame after the other, until a frame does not decode: how many
    frames a damaged file really holds (decord's read-ahead can fail on its broken tail before that)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.isOpened() and capture.grab():
        count += 1
    capture.release()
    return count


def probe_video(path):
    """Open a video, check its first and last frames decode and read its frame timestamps: a ``VideoProbe``,
    or a ``VideoDecodeError`` naming the file for a video the face stage could not read."""
    import cv2

    reader = open_video(path)
    indexed = len(reader)
    if indexed == 0:
        raise VideoDecodeError(f"{path}: the video has no frames")
    capture = cv2.VideoCapture(str(path))
    declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    capture.release()

    def decodes(index):
        try:
            open_video(path)[index]  # a fresh reader: one that met a broken packet stays broken
            return True
        except Exception:
            return False

    count = indexed
    if declared - indexed > FRAME_COUNT_SLACK or not (decodes(0) and decodes(indexed - 1)):
        # Damaged: count what decodes, frame after frame (a file cut inside a frame indexes that frame).
        count = min(count_decodable_frames(path), indexed)
        if count == 0:
            raise VideoDecodeError(f"{path}: none of its {indexed} frames decodes")
    starts = reader.get_frame_timestamp(range(count))[:, 0] if count > 1 else np.zeros(1)
    steps = np.diff(starts)
    # A constant-rate video's steps all equal 1/fps, give or take the time base's rounding.
    variable = bool(len(steps) > 1 and np.ptp(steps) > 0.5 * np.median(steps))
    return VideoProbe(count, declared if declared > 0 else None, float(reader.get_avg_fps()), width, height, variable)

"""Streaming video decoding in bounded batches of frames (PyAV), frames numbered and probed with decord."""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abawflow.core.errors import ConfigError, UndecodableTailError, VideoDecodeError

log = logging.getLogger(__name__)

# The files read as videos, in a dataset's video folder and among the videos a user names.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")


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


def iter_frame_batches(path, batch_size, threads=1, frames=None, pixel_format="rgb24", allocate=None):
    """Yield ``(first_frame_number, frames)`` with frames as an (n, H, W, 3) RGB uint8 array.

    Frame numbers are 1-based, as in the annotation files. Frames are decoded one after the other with PyAV
    (FFmpeg, ``threads`` decoding threads), so at most ``batch_size`` frames are held at a time, whatever the
    video length: decord's threaded reader decodes ahead of a slow consumer without bound (the whole video,
    dmlc/decord#157, #208), so it only numbers the frames here. PyAV's RGB frames are decord's, pixel for pixel
    (tests/unit/stage_one/test_video.py). ``frames``: the decodable frame count the index probed (a truncated
    file indexes a frame it cannot decode); by default decord's count. ``pixel_format="yuv420p"``: batches of a
    4:2:0 video with even sides come as (n, H * 3 // 2, W) I420 planes instead, for ``i420_to_rgb`` on the GPU, which
    takes FFmpeg's colour conversion, the CPU's largest cost after decoding, off the decoder threads; other
    videos' batches stay RGB (tell them apart by ``ndim``). ``allocate(shape)``: a uint8 array for a batch, e.g.
    in page-locked memory for a fast copy to the GPU.
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
    # One converter for the video: frame.to_ndarray(format=...) builds a new swscale context for every frame,
    # which costs more than the conversion itself on small frames (benchmarks/stage_one_cpu.json).
    reformatter = av.video.reformatter.VideoReformatter()
    turns = None
    try:
        start = 0
        while start < count:
            size = min(batch_size, count - start)
            batch, filled, failure = None, 0, "the decoder stopped early"
            try:
                for frame in decoded:
                    if batch is None:
                        height, width = frame.height, frame.width  # as stored
                        if turns is None:
                            turns = quarter_turns(frame, path)
                        # A rotated video's frames are turned upright here, so they come as RGB.
                        planes = pixel_format == "yuv420p" and turns == 0 and is_plain_i420(frame)
                        upright = (width, height) if turns % 2 else (height, width)
                        shape = (size, height * 3 // 2, width) if planes else (size, *upright, 3)
                        batch = allocate(shape) if allocate else np.empty(shape, np.uint8)
                    if planes and is_plain_i420(frame, width, height):
                        batch[filled] = frame.to_ndarray(format="yuv420p")
                    else:
                        converted = reformatter.reformat(frame, format="rgb24", width=width, height=height).to_ndarray()
                        if turns:
                            converted = np.rot90(converted, turns)
                        batch[filled] = rgb_to_i420(converted) if planes else converted
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


def quarter_turns(frame, path):
    """Counter-clockwise quarter turns that show a PyAV frame upright: its container's display matrix (a phone
    video is often stored sideways with one), which PyAV reports and does not apply. ``np.rot90(frame, turns)``
    is the upright frame, as OpenCV shows it with its automatic orientation on."""
    degrees = float(getattr(frame, "rotation", 0) or 0)
    turns = round(degrees / 90)
    if abs(degrees - 90 * turns) > 1:
        log.warning(
            "%s: its display matrix turns it by %.1f degrees; showing it turned by %d", path, degrees, 90 * turns
        )
    return turns % 4


def upright_size(path):
    """(rotation, width, height): the degrees (0, 90, 180, 270) counter-clockwise that a video's frames are
    turned by to show them upright, and the upright frames' size, from its first decoded frame."""
    import av

    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(container.streams.video[0]))
    except (av.error.FFmpegError, IndexError, StopIteration) as error:
        raise VideoDecodeError(f"{path}: its first frame does not decode ({error or 'no frames'})") from None
    turns = quarter_turns(frame, path)
    width, height = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)
    return 90 * turns, width, height


def is_plain_i420(frame, width=None, height=None):
    """Whether a PyAV frame's planes are limited-range 4:2:0 with even sides (of ``width`` x ``height``)."""
    return (
        frame.format.name == "yuv420p"
        and frame.width % 2 == 0
        and frame.height % 2 == 0
        and (width is None or (frame.width, frame.height) == (width, height))
    )


def rgb_to_i420(image):
    """An RGB frame as I420 planes; for the rare frame of a planar batch that is not plain 4:2:0 itself."""
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420)


# swscale's yuv2rgb path, behind PyAV's and decord's RGB frames, truncates in fixed point: its pixels are the
# exact BT.601 values less about 1.25 levels (fitted on H.264 video; tests/unit/stage_one/test_video.py bounds
# the rest).
SWSCALE_TRUNCATION = 1.25


# Frames converted at a time: float temporaries of about 16 M pixels (some 200 MB) whatever the batch, so a
# batch of 256 1080p frames does not take 10 GB of a GPU for a moment.
PIXELS_PER_CHUNK = 1 << 24


def frame_chunks(count, height, width, pixels=PIXELS_PER_CHUNK):
    """Slices of a batch of ``count`` frames, each of at most ``pixels`` pixels (one frame at least)."""
    step = max(1, pixels // (height * width))
    return [slice(start, min(start + step, count)) for start in range(0, count, step)]


def i420_to_rgb(planes, pixels_per_chunk=PIXELS_PER_CHUNK):
    """(n, H * 3 // 2, W) uint8 I420 planes (a torch tensor on any device) -> (n, H, W, 3) uint8 RGB.

    BT.601 limited range with each chroma sample over its 2x2 pixels, as swscale converts an untagged
    4:2:0 video by default: within two grey levels of ``iter_frame_batches``' RGB frames.
    """
    import torch

    count, rows, width = planes.shape
    height = rows * 2 // 3
    rgb = torch.empty((count, height, width, 3), dtype=torch.uint8, device=planes.device)
    for chunk in frame_chunks(count, height, width, pixels_per_chunk):
        part = planes[chunk]
        frames = part.shape[0]
        # Luma viewed as 2x2 blocks, so that each chroma term broadcasts over its block without an upsampled copy.
        luma = part[:, :height].float().sub_(16 + SWSCALE_TRUNCATION * 219 / 255).mul_(255 / 219)
        luma = luma.view(frames, height // 2, 2, width // 2, 2)
        chroma = part[:, height:].reshape(frames, 2, height // 2, 1, width // 2, 1).float().sub_(128).mul_(255 / 224)
        blue_difference, red_difference = chroma[:, 0], chroma[:, 1]
        terms = (
            1.402 * red_difference,
            -0.344136 * blue_difference - 0.714136 * red_difference,
            1.772 * blue_difference,
        )
        for channel, term in enumerate(terms):
            rgb[chunk, ..., channel] = (luma + term).round_().clamp_(0, 255).view(frames, height, width)
    return rgb


def nvdec_available():
    """Whether PyNvVideoCodec (NVIDIA's hardware video decoding) imports: it needs the NVIDIA driver."""
    try:
        import PyNvVideoCodec  # noqa: F401
    except (ImportError, RuntimeError, OSError):  # it raises RuntimeError without a driver
        return False
    return True


def iter_nvdec_batches(path, batch_size, threads=1, frames=None, gpu=0):
    """``iter_frame_batches`` on the GPU's hardware decoder (NVDEC, through PyNvVideoCodec): frames as an
    (n, H, W, 3) uint8 RGB tensor on CUDA device ``gpu`` (an index among the visible cards).

    A video NVDEC cannot open (a codec it lacks, such as MJPEG) is decoded on the host instead, and so is
    the rest of one it stops decoding early: the frames and their numbers are the same either way.
    """
    import PyNvVideoCodec as nvc
    import torch

    path = Path(path)
    count = len(open_video(path)) if frames is None else frames
    turns = upright_size(path)[0] // 90  # NVDEC returns the stored frames, as PyAV does
    try:
        decoder = nvc.SimpleDecoder(
            str(path), gpu_id=gpu, use_device_memory=True, output_color_type=nvc.OutputColorType.RGB
        )
    except Exception as error:  # PyNvVideoCodec raises plain Exception and RuntimeError
        log.warning("%s: NVDEC cannot decode it (%s); decoding on the host", path, str(error).splitlines()[0][:200])
        yield from iter_frame_batches(path, batch_size, threads, count)
        return
    start = 0
    while start < count:
        decoded = decoder.get_batch_frames(min(batch_size, count - start))
        if not decoded:
            log.warning("%s: NVDEC stopped at frame %d of %d; decoding the rest on the host", path, start + 1, count)
            yield from skip_frames(iter_frame_batches(path, batch_size, threads, count), start)
            return
        # A copy: the decoder reuses its output surfaces for the next batch.
        batch = torch.stack([torch.from_dlpack(frame) for frame in decoded])
        yield start + 1, torch.rot90(batch, turns, dims=(1, 2)).contiguous() if turns else batch
        start += len(decoded)


def skip_frames(batches, skipped):
    """``(first_frame, frames)`` batches without their first ``skipped`` frames."""
    for first_frame, frames in batches:
        offset = max(0, skipped - (first_frame - 1))
        if offset < len(frames):
            yield first_frame + offset, frames[offset:]


def opencv_frame_batches(path, start, count, batch_size):
    """Frames ``start + 1 .. count`` read one after the other with OpenCV, as RGB batches."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # upright, as iter_frame_batches turns its frames
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    try:
        for first in range(start, count, batch_size):
            frames = []
            for index in range(first, min(first + batch_size, count)):
                ok, frame = capture.read()
                if not ok:
                    raise UndecodableTailError(f"{path}: frame {index + 1} of {count} does not decode", index)
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
    width: int  # shown upright, after ``rotation``
    height: int
    variable_frame_rate: bool
    rotation: int = 0  # degrees counter-clockwise from the stored frames to the upright ones

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
    rotation, width, height = upright_size(path)
    starts = reader.get_frame_timestamp(range(count))[:, 0] if count > 1 else np.zeros(1)
    steps = np.diff(starts)
    # A constant-rate video's steps all equal 1/fps, give or take the time base's rounding.
    variable = bool(len(steps) > 1 and np.ptp(steps) > 0.5 * np.median(steps))
    declared = declared if declared > 0 else None
    return VideoProbe(count, declared, float(reader.get_avg_fps()), width, height, variable, rotation)


def videos_to_predict(paths):
    """Video name (file stem) -> path, for files and folders (their videos, sorted); names must be unique."""
    found = {}
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            candidates = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
            if not candidates:
                raise VideoDecodeError(f"{path}: the folder holds no video ({', '.join(VIDEO_SUFFIXES)})")
        elif path.is_file():
            candidates = [path]
        else:
            raise VideoDecodeError(f"{path}: no such video file or folder")
        for candidate in candidates:
            if candidate.stem in found and found[candidate.stem] != candidate:
                raise ConfigError(
                    f"two videos are named {candidate.stem!r} ({found[candidate.stem]} and {candidate}); "
                    "each video's outputs are a folder of its name: rename one"
                )
            found[candidate.stem] = candidate
    return found

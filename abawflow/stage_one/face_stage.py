"""Face stage: decode each video in bounded batches, detect, pick the annotated person, align, store.

One face table (abawflow.stage_one.face_table) per shard, written row group by row group so memory does
not grow with video length.
"""

import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from abawflow.core.atomic import atomic_path
from abawflow.core.errors import ConfigError, VideoDecodeError
from abawflow.core.progress import Progress
from abawflow.stage_one.alignment import PersonPicker, align_faces, align_faces_on_device
from abawflow.stage_one.face_table import FACE_SCHEMA, encode_crops, face_rows_table
from abawflow.stage_one.pipelining import OrderedWriter
from abawflow.stage_one.video import i420_to_rgb, iter_frame_batches, iter_nvdec_batches, nvdec_available

log = logging.getLogger(__name__)


def decoder_count(threads):
    """Videos decoded at once by a face job of ``threads`` cores: one per four cores, each with up to four
    FFmpeg threads (``decoder_threads``), the rest of the cores left to the detector and the writer."""
    return max(1, threads // 4)


def decoder_threads(threads):
    return max(1, min(4, threads // 2))


def jpeg_encoder_count(threads):
    """Threads encoding a face job's crops: the writer thread alone up to 15 cores, then one more per eight.
    At GPU rates a job encodes thousands of crops a second (about 0.1 ms each on one core, OpenCV releasing
    the interpreter), which one thread would then set the pace of."""
    return max(1, threads // 8)


def pinned_array(shape):
    """A uint8 array in page-locked memory (torch's caching host allocator reuses the blocks)."""
    import torch

    return torch.empty(shape, dtype=torch.uint8, pin_memory=True).numpy()


class BatchArrays:
    """Frame batches' arrays, reused: a new 64-frame 1280x720 batch is 177 MB of fresh pages, and the kernel's
    zeroing of them cost 0.55 ms a frame, a quarter of decoding it. ``take(shape)`` -> an array: a kept one
    whose frames have that shape, as a view of its first frames if it holds more (a video's short last batch),
    else a new one; ``give_back(array)`` when nothing reads it any more. Keeps at most ``keep``."""

    def __init__(self, keep=4):
        self.free = deque(maxlen=keep)
        self.lock = threading.Lock()

    def take(self, shape):
        with self.lock:
            fitting = [
                i for i, array in enumerate(self.free) if array.shape[1:] == shape[1:] and len(array) >= shape[0]
            ]
            if fitting:
                # The smallest that holds the batch, so that full-size arrays stay for full-size batches.
                index = min(fitting, key=lambda i: len(self.free[i]))
                array = self.free[index]
                del self.free[index]
                return array if len(array) == shape[0] else array[: shape[0]]
        return np.empty(shape, np.uint8)

    def give_back(self, array):
        """Keeps ``array``, or the whole batch array it is the first frames of; ignores anything else."""
        if not isinstance(array, np.ndarray) or array.dtype != np.uint8:
            return
        whole = array.base if isinstance(array.base, np.ndarray) else array
        if whole.base is not None or whole.dtype != np.uint8 or not whole.flags.c_contiguous:
            return
        leading = whole.shape[1:] == array.shape[1:] and whole.ctypes.data == array.ctypes.data
        if leading and array.flags.c_contiguous:
            with self.lock:
                self.free.append(whole)


def decode_videos(
    videos,
    root,
    batch_size,
    decoders,
    threads,
    depth=2,
    pixel_format="rgb24",
    nvdec_gpu=None,
    pinned=False,
    arrays=None,
):
    """``(entry, first_frame, frames)`` for every frame batch of every video, in video order, decoded by
    ``decoders`` worker threads, so that several videos are in flight.

    Each video has its own queue of at most ``depth`` batches, so memory is bounded by decoders x depth
    batches whatever the videos' lengths. A worker's failure is raised here, naming its video.
    ``pixel_format``: as in ``iter_frame_batches``; ``nvdec_gpu``: decode on that GPU's NVDEC engines instead;
    ``pinned``: batches in page-locked memory, which a GPU copies from without staging and without blocking;
    else ``arrays``: a ``BatchArrays`` that the batches are taken from, for the caller to give them back to.
    """
    stop = threading.Event()
    allocate = pinned_array if pinned else arrays.take if arrays is not None else None

    def frame_batches(path, frames):
        if nvdec_gpu is not None:
            return iter_nvdec_batches(path, batch_size, threads, frames, nvdec_gpu)
        return iter_frame_batches(path, batch_size, threads, frames, pixel_format, allocate)

    def decode(entry, output):
        video_path, _, *frames = entry
        path = root / video_path
        try:
            for first_frame, batch in frame_batches(path, frames[0] if frames else None):
                while not stop.is_set():
                    try:
                        output.put((first_frame, batch), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            output.put(None)
        except VideoDecodeError as error:
            output.put(error)
        except Exception as error:  # a decoder's own exception types: named with the video here
            output.put(VideoDecodeError(f"{path}: decoding failed ({type(error).__name__}: {error})"))

    with ThreadPoolExecutor(max_workers=decoders, thread_name_prefix="decode") as pool:
        pending = deque()
        entries = iter(videos)
        try:
            while True:
                while len(pending) < decoders:
                    entry = next(entries, None)
                    if entry is None:
                        break
                    output = queue.Queue(maxsize=depth)
                    pending.append((entry, output, pool.submit(decode, entry, output)))
                if not pending:
                    return
                entry, output, _ = pending.popleft()
                while (item := output.get()) is not None:
                    if isinstance(item, Exception):
                        raise item
                    yield (entry, *item)
        finally:
            stop.set()


class VideoFaces:
    """The face rows of one video's subjects, batch by batch: the annotated person's face picked per frame
    (PersonPicker keeps its tracks across batches), counts of frames and faces per subject."""

    def __init__(self, video, subjects):
        self.video, self.subjects = video, subjects
        self.picker = None
        self.counts = {subject: [0, 0] for subject in subjects}

    def pick(self, first_frame, frame_width, detections):
        """-> rows (subject, person, frame, detection or None) and the faces to align: (frame offset, detection)."""
        if self.picker is None:
            self.picker = PersonPicker(self.subjects.values(), frame_width)
        rows, faces = [], []
        for offset, frame_detections in enumerate(detections):
            chosen = self.picker.pick(frame_detections)
            for subject, person in self.subjects.items():
                detection = chosen[person]
                self.counts[subject][0] += 1
                self.counts[subject][1] += detection is not None
                rows.append((subject, person, first_frame + offset, detection))
                if detection is not None:
                    faces.append((offset, detection))
        return rows, faces


def nvdec_device(device, video_decoding):
    """The CUDA device index NVDEC decodes on for ``video_decoding`` (host or nvdec), or None for the host."""
    if video_decoding not in ("host", "nvdec"):
        raise ConfigError(f"video_decoding must be host or nvdec, got {video_decoding!r}")
    if video_decoding == "host":
        return None
    if device is None or device.type != "cuda":
        raise ConfigError(
            "video_decoding: nvdec decodes on the GPU the face detector runs on; it needs the torch detector "
            "(detector_backend: torch or auto) on a CUDA device, not the CPU. Set video_decoding: host."
        )
    if not nvdec_available():
        raise ConfigError(
            "video_decoding: nvdec needs PyNvVideoCodec (pip install PyNvVideoCodec) and an NVIDIA driver; "
            "it did not import here. Set video_decoding: host."
        )
    return device.index or 0


@dataclass(frozen=True)
class FrameRoute:
    """Where a face job's frames go, decided once from its detector: the device the torch backend runs on
    (None for onnxruntime), whether faces are aligned there, and how the decoders hand the frames over."""

    device: object
    on_device: bool
    pixel_format: str
    nvdec_gpu: int | None
    pinned: bool


def frame_route(detector, alignment="auto", video_decoding="host"):
    """The ``FrameRoute`` of ``detector``. ``alignment`` auto aligns on the detector's GPU, else with OpenCV.
    Frames detected and aligned on a device travel as 4:2:0 planes and are converted there; on a GPU in
    page-locked memory (the copy reads a batch the writer thread still holds, and detect() returns only
    after the GPU is done), unless NVDEC decodes them there in the first place."""
    device = detector.device if getattr(detector, "takes_tensors", False) else None  # torch backend's device
    on_device = device is not None and (alignment == "torch" or (alignment == "auto" and device.type == "cuda"))
    nvdec_gpu = nvdec_device(device, video_decoding)
    pinned = device is not None and device.type == "cuda" and nvdec_gpu is None
    return FrameRoute(device, on_device, "yuv420p" if on_device else "rgb24", nvdec_gpu, pinned)


def detector_frames(frames, device):
    """A decoded batch as the detector takes it: the host RGB array for onnxruntime; for the torch backend an
    RGB tensor on its device, I420 planes converted there."""
    if device is None:
        return frames
    import torch

    tensor = torch.from_numpy(frames) if isinstance(frames, np.ndarray) else frames
    tensor = tensor.to(device, non_blocking=True)
    return i420_to_rgb(tensor) if tensor.dim() == 3 else tensor


def uploaded_ahead(batches, device):
    """``(entry, first_frame, host frames, detector frames)`` for each decoded batch, the detector frames as
    ``detector_frames`` makes them. On a GPU, the next batch's copy and colour conversion are issued on a
    stream of their own before a batch is handed over, so they overlap with its detection (the copy engine
    and the kernels run beside the detector's); the detector's stream waits for them before using a batch."""
    if device is None or device.type != "cuda":
        for entry, first_frame, frames in batches:
            yield entry, first_frame, frames, detector_frames(frames, device)
        return
    import torch

    side = torch.cuda.Stream(device)
    pending = None
    for entry, first_frame, frames in batches:
        if isinstance(frames, torch.Tensor):  # decoded on the GPU (NVDEC), on the detector's stream already
            uploaded, ready = frames, None
        else:
            with torch.cuda.stream(side):
                uploaded = detector_frames(frames, device)
                ready = side.record_event()
        if pending is not None:
            yield ready_for_detection(pending, device)
        pending = (entry, first_frame, frames, uploaded, ready)
    if pending is not None:
        yield ready_for_detection(pending, device)


def ready_for_detection(item, device):
    import torch

    entry, first_frame, frames, uploaded, ready = item
    if ready is not None:
        stream = torch.cuda.current_stream(device)
        stream.wait_event(ready)
        uploaded.record_stream(stream)  # the allocator must not reuse it before the detector is done with it
    return entry, first_frame, frames, uploaded


class DetectionThreads:
    """``submit(detect, frames)`` -> a future of its detections: on ``detector.concurrency`` threads where the
    detector takes batches side by side, else detected at once on the caller's thread (a GPU detector's
    batches queue on the caller's CUDA stream)."""

    def __init__(self, detector):
        self.concurrency = getattr(detector, "concurrency", 1)
        self.pool = None

    def __enter__(self):
        if self.concurrency > 1:
            self.pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="detect")
        return self

    def __exit__(self, *error):
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def submit(self, detect, frames):
        if self.pool is not None:
            return self.pool.submit(detect, frames)
        done = Future()
        done.set_result(detect(frames))
        return done

    def in_order(self, in_flight, drain=False):
        """Pops and yields the items of ``in_flight`` (their detections' futures last) whose detections are
        done, oldest first. Returns once a thread is free for the next batch, not when the oldest is done:
        a video's short last batch ends before the full one beside it, and that thread would otherwise idle
        (a tenth of the CPU stage's time on 600-frame videos). ``drain``: until all are done."""
        while in_flight:
            if in_flight[0][-1].done():
                yield in_flight.popleft()
                continue
            running = [item[-1] for item in in_flight if not item[-1].done()]
            if not drain and len(running) < self.concurrency and len(in_flight) <= 2 * self.concurrency:
                return
            wait(running, return_when=FIRST_COMPLETED)


class FaceJob:
    """What one face job keeps between batches: the video being picked, the detector's and the writer's busy
    time, the frames done. ``finish`` runs on the stage's thread, in order; ``write`` on the writer thread."""

    def __init__(self, detector, route, crop_size, jpeg_quality, encoders, arrays, progress):
        self.detector, self.route, self.crop_size, self.jpeg_quality = detector, route, crop_size, jpeg_quality
        self.encoders, self.arrays, self.progress = encoders, arrays, progress
        self.detector_seconds = []  # each batch's detection time
        self.writer_seconds = 0.0  # the writer thread's busy time: its own ceiling, beside the detector's
        self.frames = 0
        self.current = None  # (entry, VideoFaces) of the video whose batches arrive

    def detect(self, frames_in):
        started = time.perf_counter()
        detections = self.detector.detect(frames_in)
        self.detector_seconds.append(time.perf_counter() - started)
        return detections

    def write(self, writer, encoding, video, rows, crops, frames, faces):
        started = time.perf_counter()
        if crops is None and faces:  # align on this thread, from the host frames
            crops = align_faces(frames, [o for o, _ in faces], [d.landmarks for _, d in faces], self.crop_size)
        if self.arrays is not None:
            self.arrays.give_back(frames)  # the frames' last reader
        jpegs = encode_crops(crops, self.jpeg_quality, encoding, self.encoders) if faces else []
        writer.write_table(face_rows_table(video, rows, jpegs))
        self.writer_seconds += time.perf_counter() - started

    def finish(self, writing, writer, encoding, entry, first_frame, frames, frames_in, detections):
        """Pick the annotated people among one batch's detections, align them (on the device when the frames
        are there) and hand the batch to the writer thread."""
        if self.current is None or self.current[0] is not entry:
            self.report()
            self.current = (entry, VideoFaces(Path(entry[0]).stem, entry[1]))
        video = self.current[1]
        rows, faces = video.pick(first_frame, frames_in.shape[2], detections.result())
        crops = None
        if self.route.on_device and faces:
            landmarks = [d.landmarks for _, d in faces]
            crops = align_faces_on_device(frames_in, [o for o, _ in faces], landmarks, self.crop_size)
            crops = crops.cpu().numpy()
        elif faces and not isinstance(frames, np.ndarray):  # decoded on the GPU, aligned on the host
            frames = frames_in.cpu().numpy()
        writing.submit(self.write, writer, encoding, video.video, rows, crops, frames, faces)
        self.frames += len(frames)
        self.progress.advance(len(frames))

    def report(self):
        """Log the finished video's face rate per person."""
        if self.current is None:
            return
        entry, video = self.current
        for subject, (frames, found) in video.counts.items():
            share = 100.0 * found / max(frames, 1)
            log.info("%s (%s): %d frames decoded, face found in %d (%.1f%%)", subject, entry[0], frames, found, share)


def run_face_stage(
    videos,
    root,
    detector,
    output_path,
    batch_size,
    crop_size,
    jpeg_quality,
    threads=1,
    decoders=1,
    alignment="auto",
    video_decoding="host",
    encoders=1,
):
    """``videos``: list of (video_path relative to ``root``, {subject: person}[, decodable frames]). Writes one
    Parquet file atomically.

    A pipeline: ``decoders`` threads decode the next videos' frames, the detector runs on each batch (on the
    GPU for the torch backend, the frames uploaded once), faces are aligned there too (``alignment`` auto:
    on the detector's GPU, else OpenCV), and a writer thread encodes the crops and appends the rows. When
    the frames are detected and aligned on a device, the decoders hand over 4:2:0 planes, half the bytes of
    RGB, and the device converts them. ``video_decoding``: host (FFmpeg on the decoder threads) or nvdec
    (the GPU's hardware decoders). ``encoders``: threads encoding the crops' JPEGs (``jpeg_encoder_count``).
    Returns throughput figures: decoded frames, stage seconds, the detector's seconds and the writer thread's
    (alignment on the host, JPEG encoding and Parquet writing).
    """
    started = time.perf_counter()
    route = frame_route(detector, alignment, video_decoding)
    # Host batches are reused once written (pinned ones are by torch's allocator; NVDEC's stay on the GPU).
    arrays = BatchArrays() if route.device is None else None
    progress = Progress(log, "faces", sum(entry[2] for entry in videos if len(entry) > 2), "frames")
    job = FaceJob(detector, route, crop_size, jpeg_quality, encoders, arrays, progress)
    with (
        atomic_path(output_path) as temporary,
        pq.ParquetWriter(temporary, FACE_SCHEMA, compression="zstd") as writer,
        # Entered before the writer, so that it is shut down after the writer's last write.
        ThreadPoolExecutor(encoders, thread_name_prefix="jpeg") if encoders > 1 else nullcontext() as encoding,
        OrderedWriter(depth=2) as writing,
        closing(
            decode_videos(
                videos,
                Path(root),
                batch_size,
                decoders,
                threads,
                2,
                route.pixel_format,
                route.nvdec_gpu,
                route.pinned,
                arrays,
            )
        ) as batches,
    ):
        # The detector's ``concurrency`` batches are detected at once (onnxruntime on the CPU), each on a
        # thread of its own; they are picked, aligned and written in order, as one at a time would be.
        with DetectionThreads(detector) as detecting:
            in_flight = deque()
            for entry, first_frame, frames, frames_in in uploaded_ahead(batches, route.device):
                in_flight.append((entry, first_frame, frames, frames_in, detecting.submit(job.detect, frames_in)))
                for done in detecting.in_order(in_flight):
                    job.finish(writing, writer, encoding, *done)
            for done in detecting.in_order(in_flight, drain=True):
                job.finish(writing, writer, encoding, *done)
        job.report()
        if not videos:
            log.info("this shard has no videos; writing an empty face table")
    stage_seconds = time.perf_counter() - started
    # Batches detected side by side share the cores: the detector's busy time is their sum over that many.
    detector_total = sum(job.detector_seconds) / detecting.concurrency
    if job.frames:
        progress.finish()
        log.info(
            "%d frames in %.1f s: stage %.1f frames/s; detector alone %.1f frames/s, writer alone %.1f frames/s",
            job.frames,
            stage_seconds,
            job.frames / stage_seconds,
            job.frames / detector_total,
            job.frames / max(job.writer_seconds, 1e-9),
        )
    return {
        "frames": job.frames,
        "stage_seconds": stage_seconds,
        "detector_seconds": detector_total,
        "writer_seconds": job.writer_seconds,
    }

"""Sound tracks: read a video's (or a sound file's) audio as mono samples at one rate, and cut it into
windows aligned to the video's frames, so that audio features join the frame-level feature tables.

Frame k (1-based) of a video at ``fps`` covers [(k - 1) / fps, k / fps); its audio window is centred on
that interval's middle and is ``window_seconds`` long, zero-padded before the start and after the end of
the track. One video's track is held in memory while its windows are extracted (16 kHz mono float32 is
3.8 MB per minute of sound); the windows themselves are made and consumed in batches.
"""

import logging
import time
from pathlib import Path

import numpy as np

from abawflow.core.errors import VideoDecodeError

log = logging.getLogger(__name__)

# A track this much shorter than its video is reported; its missing end is silence in the windows.
SHORT_TRACK_SECONDS = 0.5


class AudioDecodeError(VideoDecodeError):
    """A video or sound file has no sound track, or its track cannot be decoded."""


def read_audio(path, sample_rate):
    """The sound track of ``path`` (a video with sound, or a sound file such as WAV) as mono float32
    samples at ``sample_rate`` Hz: FFmpeg (PyAV) decodes and resamples, the channels are averaged.
    (decord's AudioReader keeps only the first channel for mono and garbles some multichannel tracks.)"""
    import av

    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"{path}: sound source not found")
    chunks, position = [], 0.0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioDecodeError(
                    f"{path}: cannot read a sound track (it has no audio stream); audio features need a video "
                    "with sound, or the dataset's sound file for it"
                )
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", rate=int(sample_rate))
            for frame in container.decode(stream):
                position = float(frame.time or position)
                chunks.extend(part.to_ndarray() for part in resampler.resample(frame))
            chunks.extend(part.to_ndarray() for part in resampler.resample(None))
    except av.FFmpegError as error:
        where = f" at {position:.2f} s" if chunks else ""
        raise AudioDecodeError(f"{path}: cannot read a sound track{where} ({error.strerror or error})") from None
    if not chunks:
        raise AudioDecodeError(f"{path}: the sound track holds no samples")
    samples = np.concatenate(chunks, axis=1).mean(axis=0).astype(np.float32)
    if not np.isfinite(samples).all():
        raise AudioDecodeError(f"{path}: the sound track decodes to non-finite samples")
    return samples


def frame_window_starts(frames, fps, sample_rate, window_samples):
    """First sample of each frame's window (may be negative or past the end: those parts are silence)."""
    centres = (np.arange(frames, dtype=np.float64) + 0.5) / float(fps)
    return np.round(centres * sample_rate).astype(np.int64) - window_samples // 2


def frame_windows(samples, starts, window_samples):
    """(len(starts), window_samples) float32 windows of ``samples`` from ``starts``, zero outside the track."""
    padding = window_samples
    padded = np.concatenate([np.zeros(padding, np.float32), samples, np.zeros(padding, np.float32)])
    # Clip into the padded track: a window wholly outside it is all zeros either way.
    first = np.clip(np.asarray(starts, np.int64) + padding, 0, len(padded) - window_samples)
    index = first[:, None] + np.arange(window_samples)[None, :]
    return padded[index]


def iter_frame_windows(samples, frames, fps, sample_rate, window_seconds, batch_size):
    """(first frame, windows) batches covering frames 1..``frames``; windows as in ``frame_windows``."""
    window_samples = max(1, int(round(window_seconds * sample_rate)))
    starts = frame_window_starts(frames, fps, sample_rate, window_samples)
    for begin in range(0, frames, batch_size):
        yield begin + 1, frame_windows(samples, starts[begin : begin + batch_size], window_samples)


def check_track_length(source, samples, sample_rate, frames, fps):
    """Warn when the track ends well before the video: its last frames' windows are silence."""
    track, video = len(samples) / sample_rate, frames / fps
    if track + SHORT_TRACK_SECONDS < video:
        log.warning(
            "%s: the sound track lasts %.2f s, the video %.2f s; frames after %.2f s get silent windows",
            source,
            track,
            video,
            track,
        )
    return track


def sound_sources(subjects, root):
    """Video -> (sound file, frames, fps, its subjects): the dataset's sound file where its index names one
    (``audio_path``, e.g. Hume-Reaction's wav/), else the video itself."""
    column = "audio_path" if "audio_path" in subjects.columns else "video_path"
    sources = {}
    for row in subjects.iter_rows(named=True):
        video = sources.setdefault(
            row["video"], {"path": Path(root) / row[column], "frames": row["frames"], "fps": row["fps"], "subjects": []}
        )
        video["subjects"].append((row["subject"], row["person"]))
    return sources


def extract_audio_features(subjects, root, extractor, output_path, sample_rate, window_seconds, batch_size, device):
    """Write the audio feature table (the feature tables' schema; ``face_found`` is true for every frame:
    each has its window of sound) of every subject in ``subjects`` (its index table) to ``output_path``."""
    import pyarrow.parquet as pq
    import torch

    from abawflow.core.atomic import atomic_path
    from abawflow.core.progress import Progress
    from abawflow.stage_one.face_table import every_frame_table, feature_schema

    width = extractor.output_width
    schema = feature_schema(width)
    windows = seconds = 0
    started = time.perf_counter()
    sources = sound_sources(subjects, root)
    progress = Progress(log, "audio", sum(source["frames"] for source in sources.values()), "windows")
    with atomic_path(output_path) as temporary, pq.ParquetWriter(temporary, schema, compression="zstd") as writer:
        for video, source in sources.items():
            if not source["fps"] or source["fps"] <= 0:
                raise AudioDecodeError(f"{source['path']}: the index holds no frame rate for video {video!r}")
            samples = read_audio(source["path"], sample_rate)
            check_track_length(source["path"], samples, sample_rate, source["frames"], source["fps"])
            features = np.empty((source["frames"], width), np.float32)
            for first, batch in iter_frame_windows(
                samples, source["frames"], source["fps"], sample_rate, window_seconds, batch_size
            ):
                forward = time.perf_counter()
                with torch.inference_mode():
                    output = extractor(torch.from_numpy(batch).to(device))
                features[first - 1 : first - 1 + len(batch)] = output.float().cpu().numpy()
                seconds += time.perf_counter() - forward
                windows += len(batch)
                progress.advance(len(batch))
            if not np.isfinite(features).all():
                raise AudioDecodeError(f"{source['path']}: the audio features of video {video!r} are not finite")
            for subject, person in source["subjects"]:
                writer.write_table(every_frame_table(schema, subject, video, person, features))
    progress.finish()
    elapsed = time.perf_counter() - started
    if windows:
        log.info(
            "%d frame windows -> %d-d audio features in %.1f s: stage %.1f windows/s, extractor alone %.1f windows/s",
            windows,
            width,
            elapsed,
            windows / elapsed,
            windows / max(seconds, 1e-9),
        )
    return {"windows": windows, "width": width, "stage_seconds": elapsed, "extractor_seconds": seconds}

"""Face stage: decode each video in bounded batches, detect, pick the annotated person, align, store.

One Parquet table per shard, one row per (subject, frame) of every decoded
frame, written row group by row group so memory does not grow with video length:
subject (the annotation name), video, person (single, left or right), frame,
face_found, score, box (x1, y1, x2, y2), landmarks (10 floats), crop (aligned
face as JPEG bytes, null without a face).
"""

import logging
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from abawflow.alignment import PersonPicker, align_face
from abawflow.atomic import atomic_path
from abawflow.progress import Progress
from abawflow.video import iter_frame_batches

log = logging.getLogger(__name__)

FACE_SCHEMA = pa.schema(
    [
        ("subject", pa.string()),
        ("video", pa.string()),
        ("person", pa.string()),
        ("frame", pa.int32()),
        ("face_found", pa.bool_()),
        ("score", pa.float32()),
        ("box", pa.list_(pa.float32(), 4)),
        ("landmarks", pa.list_(pa.float32(), 10)),
        ("crop", pa.binary()),
    ]
)


def assign_shards(video_sizes, shards):
    """Video -> shard, balancing the shards' total bytes (greedy, largest video first).

    Every shard job computes the same assignment from the same files, so the shards
    partition the videos without a shared plan file.
    """
    loads = [0] * shards
    assignment = {}
    for video, size in sorted(video_sizes.items(), key=lambda item: (-item[1], item[0])):
        shard = min(range(shards), key=lambda index: (loads[index], index))
        assignment[video] = shard
        loads[shard] += size
    return assignment


def video_sizes(subjects, root):
    """Video -> file size in bytes, of the videos of a subjects table (the shard balance's weights)."""
    return {
        video: (Path(root) / path).stat().st_size
        for video, path in subjects.select("video", "video_path").unique().rows()
    }


def parse_shard(name):
    """``"2of8"`` -> (2, 8)."""
    shard, shards = (int(part) for part in name.split("of"))
    return shard, shards


def encode_jpeg(image_rgb, quality):
    ok, data = cv2.imencode(".jpg", image_rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def decode_jpeg(data):
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]


def process_video(
    video_path,
    subjects,
    detector,
    writer,
    batch_size,
    crop_size,
    jpeg_quality,
    threads=1,
    frame_count=None,
    progress=None,
):
    """Detect and align the faces of ``subjects`` (subject -> person) in one video (its first ``frame_count``
    frames: the decodable ones the index probed).

    Returns per-subject counts (frames, frames with a face), the number of
    decoded frames and the seconds spent in the detector itself.
    """
    picker = None
    counts = {subject: [0, 0] for subject in subjects}
    decoded, detector_seconds = 0, 0.0
    for first_frame, frames in iter_frame_batches(video_path, batch_size, threads, frame_count):
        if picker is None:
            picker = PersonPicker(subjects.values(), frames.shape[2])
        started = time.perf_counter()
        detections = detector.detect(frames)
        detector_seconds += time.perf_counter() - started
        decoded += len(frames)
        rows = {name: [] for name in FACE_SCHEMA.names}
        for offset, (frame, frame_detections) in enumerate(zip(frames, detections, strict=True)):
            chosen = picker.pick(frame_detections)
            for subject, person in subjects.items():
                detection = chosen[person]
                counts[subject][0] += 1
                rows["subject"].append(subject)
                rows["video"].append(video_path.stem)
                rows["person"].append(person)
                rows["frame"].append(first_frame + offset)
                rows["face_found"].append(detection is not None)
                if detection is None:
                    for column in ("score", "box", "landmarks", "crop"):
                        rows[column].append(None)
                    continue
                counts[subject][1] += 1
                rows["score"].append(detection.score)
                rows["box"].append(detection.box.tolist())
                rows["landmarks"].append(detection.landmarks.reshape(-1).tolist())
                rows["crop"].append(encode_jpeg(align_face(frame, detection.landmarks, crop_size), jpeg_quality))
        writer.write_table(pa.table(rows, schema=FACE_SCHEMA))
        if progress is not None:
            progress.advance(len(frames))
    return counts, decoded, detector_seconds


def run_face_stage(videos, root, detector, output_path, batch_size, crop_size, jpeg_quality, threads=1):
    """``videos``: list of (video_path relative to ``root``, {subject: person}[, decodable frames]). Writes one
    Parquet file atomically.

    Returns throughput figures: decoded frames, stage seconds, detector seconds.
    """
    started = time.perf_counter()
    frames_total, detector_total = 0, 0.0
    progress = Progress(log, "faces", sum(entry[2] for entry in videos if len(entry) > 2), "frames")
    with atomic_path(output_path) as temporary:
        with pq.ParquetWriter(temporary, FACE_SCHEMA, compression="zstd") as writer:
            for video_path, subjects, *frames in videos:
                counts, decoded, detector_seconds = process_video(
                    root / video_path,
                    subjects,
                    detector,
                    writer,
                    batch_size,
                    crop_size,
                    jpeg_quality,
                    threads,
                    frames[0] if frames else None,
                    progress,
                )
                frames_total += decoded
                detector_total += detector_seconds
                for subject, (frames, found) in counts.items():
                    share = 100.0 * found / max(frames, 1)
                    log.info(
                        "%s (%s): %d frames decoded, face found in %d (%.1f%%)",
                        subject,
                        video_path,
                        frames,
                        found,
                        share,
                    )
            if not videos:
                log.info("this shard has no videos; writing an empty face table")
    stage_seconds = time.perf_counter() - started
    if frames_total:
        progress.finish()
        log.info(
            "%d frames in %.1f s: stage %.1f frames/s, detector forward alone %.1f frames/s",
            frames_total,
            stage_seconds,
            frames_total / stage_seconds,
            frames_total / detector_total,
        )
    return {"frames": frames_total, "stage_seconds": stage_seconds, "detector_seconds": detector_total}

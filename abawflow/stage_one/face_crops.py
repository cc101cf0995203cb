"""The organizers' aligned crops as face tables, the face stage's schema, so they feed the feature stage
as detected faces do.

One reader for the layouts, ``<crops folder>/<name>/<crop>.jpg``:
- Aff-Wild2 (``cropped_aligned/`` of a release, ``<frame:05d>.jpg``) and BAH (``cropped-aligned-faces/``,
  ``frame-<n>.jpg`` from 0; its registration names how): a row for every frame of each person-video; a frame
  without a crop is a frame without a face, as the organizers' aligner found none there;
- s-Aff-Wild2: a row for every listed image, each of which has its crop (checked at index time).
"""

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from abawflow.core.atomic import atomic_path
from abawflow.core.errors import DatasetLayoutError
from abawflow.core.progress import Progress
from abawflow.stage_one.face_table import FACE_SCHEMA, assign_shards, video_sizes

log = logging.getLogger(__name__)

ROW_COLUMNS = ["subject", "video", "person", "frame", "image"]  # image: the crop under the crops folder, or null


def crop_files(folder):
    """Frame number -> file name of the ``<frame>.jpg`` crops in one folder (listed once, not stat'ed per frame)."""
    crops = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            stem, suffix = os.path.splitext(entry.name)
            if suffix.lower() in (".jpg", ".jpeg") and stem.isdigit():
                crops[int(stem)] = entry.name
    return crops


def aff_wild2_crop_files(folder):
    """Aff-Wild2's crops of one person-video: ``crop_files``, and a folder that is not there raises."""
    if not Path(folder).is_dir():
        raise DatasetLayoutError(
            f"{folder}: no crop folder for {Path(folder).name!r}; dataset.face_source cropped_aligned needs one per "
            "annotated person-video (or set dataset.face_source: detected to detect the faces in the video)"
        )
    return crop_files(folder)


def person_video_rows(subject, video, person, frames, crops_root, crops_of=aff_wild2_crop_files):
    """The rows of frames 1..``frames`` of one person-video, whose crops ``crops_of(folder)`` lists as
    {frame: file name} (a dataset's own numbering, as its registration gives it; Aff-Wild2's by default)."""
    folder = Path(crops_root) / subject
    crops = crops_of(folder)
    outside = sorted(frame for frame in crops if not 1 <= frame <= frames)
    if outside:
        log.warning(
            "%s: %d crop(s) numbered outside the video's %d frames (e.g. %s) are not used",
            folder,
            len(outside),
            frames,
            crops[outside[0]],
        )
    return pl.DataFrame(
        {
            "subject": [subject] * frames,
            "video": [video] * frames,
            "person": [person] * frames,
            "frame": list(range(1, frames + 1)),
            "image": [f"{subject}/{crops[f]}" if f in crops else None for f in range(1, frames + 1)],
        },
        schema={"subject": pl.String, "video": pl.String, "person": pl.String, "frame": pl.Int32, "image": pl.String},
    )


@dataclass(frozen=True)
class ShardCrops:
    """One shard's face-table rows to read: how many, and the tables of ROW_COLUMNS that hold them, one per
    person-video (made one at a time, so memory does not grow with the shard)."""

    rows: int
    groups: Iterator[pl.DataFrame]


def subject_crop_rows(subjects, root, crops_root, shard, shards, crops_of=aff_wild2_crop_files):
    """Whole videos (Aff-Wild2, BAH): the ``ShardCrops`` of the person-videos of one shard (the videos partitioned
    as for detection). A video's frame count is its decoder's (probed by the index), as in the face stage."""
    assignment = assign_shards(video_sizes(subjects, root), shards)
    chosen = subjects.filter(pl.col("video").is_in([v for v, s in assignment.items() if s == shard]))
    groups = (
        person_video_rows(row["subject"], row["video"], row["person"], row["frames"], crops_root, crops_of)
        for row in chosen.iter_rows(named=True)
    )
    return ShardCrops(int(chosen["frames"].sum()), groups)


def image_crop_rows(images, root, crops_root, shard, shards):
    """s-Aff-Wild2: the ``ShardCrops`` of the listed images of one shard's videos (balanced by image count)."""
    counts = dict(images.group_by("subject").len().rows())
    assignment = assign_shards(counts, shards)
    chosen = images.filter(pl.col("subject").is_in([v for v, s in assignment.items() if s == shard]))
    groups = (
        group.select(
            "subject",
            pl.col("subject").alias("video"),
            pl.lit("single").alias("person"),
            pl.col("frame").cast(pl.Int32),
            "image",
        )
        for _, group in chosen.sort(["subject", "frame"]).group_by("subject", maintain_order=True)
    )
    return ShardCrops(chosen.height, groups)


def read_crop(crops_root, image):
    path = Path(crops_root) / image
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DatasetLayoutError(f"{path}: cannot read the crop ({error.strerror})") from None
    if cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8) is None:
        raise DatasetLayoutError(f"{path}: not a readable JPEG image")
    return data


def write_face_crops(shard_crops, crops_root, output_path, rows_per_group=1024):
    """Write the face table of a ``ShardCrops`` atomically: the crop's JPEG bytes as stored, face_found where
    there is a crop, no box or landmarks (the organizers publish none). Returns (rows, crops)."""
    started, rows_total, crops_total = time.perf_counter(), 0, 0
    progress = Progress(log, "crops", shard_crops.rows, "rows")
    with atomic_path(output_path) as temporary:
        with pq.ParquetWriter(temporary, FACE_SCHEMA, compression="zstd") as writer:
            for group in shard_crops.groups:
                for begin in range(0, group.height, rows_per_group):
                    chunk = group.slice(begin, rows_per_group)
                    images = chunk["image"].to_list()
                    found = [image is not None for image in images]
                    count = chunk.height
                    table = pa.table(
                        {
                            "subject": chunk["subject"].to_list(),
                            "video": chunk["video"].to_list(),
                            "person": chunk["person"].to_list(),
                            "frame": chunk["frame"].to_list(),
                            "face_found": found,
                            "score": [1.0 if f else 0.0 for f in found],
                            "box": [None] * count,
                            "landmarks": [None] * count,
                            "crop": [read_crop(crops_root, image) if image else None for image in images],
                        },
                        schema=FACE_SCHEMA,
                    )
                    writer.write_table(table)
                    progress.advance(count)
                crops = int(group["image"].is_not_null().sum())
                rows_total, crops_total = rows_total + group.height, crops_total + crops
                if group.height:
                    log.info(
                        "%s: %d frames, a crop for %d (%.1f%%)",
                        group["subject"][0],
                        group.height,
                        crops,
                        100.0 * crops / group.height,
                    )
    seconds = time.perf_counter() - started
    log.info(
        "%d rows, %d crops in %.1f s (%.0f rows/s)", rows_total, crops_total, seconds, rows_total / max(seconds, 1e-9)
    )
    return rows_total, crops_total

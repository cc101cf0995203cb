"""The BAH layout (Ambivalence/Hesitancy, ABAW8 onwards), as the dataset's public code and the organizers'
validation script show it.

- Split lists ``split/{train,val,test}.txt``, no header, one line per video: ``video_path,label,transcript``.
  The transcript holds commas, so a line is split on its first two only. ``label`` is 1 ("With A-H") or 0.
- Transcripts ``transcription/<video path>/<stem>.yml``: Whisper's output (abawflow/datasets/transcripts.py).
- The organizers' crops ``cropped-aligned-faces/<video path>/frame-<n>.jpg``, ``n`` from 0 (face source
  ``cropped_aligned``, rule read_face_crops).
"""

import logging
import os
import re
from pathlib import Path

import polars as pl

from abawflow.core.errors import AnnotationFormatError, DatasetLayoutError
from abawflow.datasets.transcripts import transcripts_table
from abawflow.tasks.specs import AH

log = logging.getLogger(__name__)

LABELS = {"0": 0, "1": 1}  # 0 "No A-H", 1 "With A-H"
CROP_NAME = re.compile(r"^frame-(\d+)\.jpg$")


def read_split_list(path):
    """(video path, label, transcript, line number) per line of a split list, checked line by line."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"{path}: the BAH split list is missing")
    rows, seen = [], {}
    text = path.read_text(encoding="utf-8-sig")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        parts = line.split(",", 2)
        if len(parts) < 2:
            raise AnnotationFormatError(f"{where}: expected video_path,label,transcript, got {line[:80]!r}")
        video, label = parts[0].strip(), parts[1].strip()
        if not video:
            raise AnnotationFormatError(f"{where}: the video path is empty")
        if label not in LABELS:
            raise AnnotationFormatError(f"{where}: label {label!r} of {video} is not 0 (no A-H) or 1 (A-H)")
        if video in seen:
            raise AnnotationFormatError(f"{where}: {video} is listed again (first on line {seen[video]})")
        seen[video] = number
        transcript = parts[2].strip() if len(parts) == 3 else ""
        rows.append((video, LABELS[label], transcript, number))
    if not rows:
        raise AnnotationFormatError(f"{path}: no videos listed")
    return rows


def crop_files(folder):
    """{frame: file name} of a video's folder of organizer crops: ``frame-<n>.jpg`` is frame n + 1 (the crops
    are numbered from 0, the pipeline's frames from 1). A folder that is not there raises."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetLayoutError(
            f"{folder}: the video's folder of cropped-aligned faces is missing; ah.face_source cropped_aligned "
            "needs one per listed video (or set ah.face_source: detected to detect the faces in the video)"
        )
    frames = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            match = CROP_NAME.match(entry.name)
            if match:
                frames[int(match.group(1)) + 1] = entry.name
    return dict(sorted(frames.items()))


def transcript_path(root, settings, video):
    """``<transcript folder>/<video path>/<video stem>.yml``: Whisper's output for one video."""
    return Path(root) / settings["transcript_folder"] / video / f"{Path(video).stem}.yml"


def read_transcripts(root, settings, subjects):
    """One row per spoken chunk of every subject's video (abawflow/datasets/transcripts.py)."""
    return transcripts_table(
        subjects, lambda subject, video: transcript_path(root, settings, video), settings["transcript_window_seconds"]
    )


def layout_files(root, settings):
    """The split lists the index reads (its rerun trigger; the videos are named in them)."""
    root = Path(root)
    return [root / settings["split_folder"] / name for name in settings["split_files"].values()]


def index_bah(root, settings):
    """(subjects, splits, {"ah": labels}) of a BAH root: one subject per listed video, named by its path as
    the split lists give it (the organizers' id), its sound the video's own track; the test list's labels
    are placeholders (0) and are not read. ``settings``: ``split_folder``, ``split_files`` (split -> file)."""
    root = Path(root)
    subjects, splits, labels, listed = [], [], [], {}
    for split in ("train", "validation", "test"):
        name = f"{settings['split_folder']}/{settings['split_files'][split]}"
        for video, label, _transcript, number in read_split_list(root / name):
            where = f"{root / name}, line {number}"
            if video in listed:
                raise AnnotationFormatError(f"{where}: {video} is also listed at {listed[video]}")
            listed[video] = where
            if not (root / video).is_file():
                raise DatasetLayoutError(f"{where}: the video {video} is not under {root}")
            subjects.append((video, video, video, "single"))
            splits.append((AH.name, video, split, f"{name}:{number}"))
            if split != "test":
                labels.append((video, True, float(label)))
    subjects = pl.DataFrame(subjects, schema=["subject", "video", "video_path", "person"], orient="row")
    splits = pl.DataFrame(splits, schema=["task", "subject", "split", "source"], orient="row")
    labels = pl.DataFrame(
        labels, schema={"subject": pl.String, "annotated": pl.Boolean, AH.label_columns[0]: pl.Float32}, orient="row"
    )
    for split, rows in splits.group_by("split", maintain_order=True):
        log.info("%s: %d videos", split[0], rows.height)
    return subjects, splits, {AH.name: labels}

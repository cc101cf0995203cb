"""The BAH layout (Ambivalence/Hesitancy, ABAW8 onwards), as the dataset's public code and the organizers'
validation script show it.

- Split lists ``split/{train,val,test}.txt``, no header, one line per video: ``video_path,label,transcript``.
  The transcript holds commas, so a line is split on its first two only. ``label`` is 1 ("With A-H") or 0.
- Transcripts ``transcription/<video path>/<stem>.yml``: Whisper's output, ``text`` and ``chunks`` of
  ``{text, timestamp: [start, end]}`` in seconds. The timestamps restart at every window Whisper cut the
  sound into (about 30 s), so a chunk's time is its window's start plus its own.
- The organizers' crops ``cropped-aligned-faces/<video path>/frame-<n>.jpg``, ``n`` from 0.
"""

import logging
import re
from pathlib import Path

import polars as pl
import yaml

from abawflow.core.errors import AnnotationFormatError, DatasetLayoutError
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


def read_transcript(path, window_seconds=30.0):
    """(text, chunks) of a Whisper transcript; chunks are (start, end, text) in seconds from the video's
    start: each time the timestamps go back, Whisper began a new window of ``window_seconds``. A chunk
    without an end (Whisper's last one may have none) ends where it starts."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise DatasetLayoutError(f"{path}: the transcript is missing") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise AnnotationFormatError(f"{path}{where}: not a YAML transcript ({problem})") from None
    if not isinstance(document, dict) or not isinstance(document.get("text"), str):
        raise AnnotationFormatError(f"{path}: expected a mapping with `text` (and `chunks`), as Whisper writes it")
    chunks, window, previous = [], 0, None
    for index, chunk in enumerate(document.get("chunks") or []):
        where = f"{path}: chunks[{index}]"
        stamp = chunk.get("timestamp") if isinstance(chunk, dict) else None
        if not isinstance(stamp, list | tuple) or len(stamp) != 2 or not isinstance(stamp[0], int | float):
            raise AnnotationFormatError(f"{where}: expected timestamp [start, end] in seconds, got {stamp!r}")
        start, end = float(stamp[0]), float(stamp[1]) if isinstance(stamp[1], int | float) else float(stamp[0])
        if end < start:
            raise AnnotationFormatError(f"{where}: timestamp [{start:g}, {end:g}] ends before it starts")
        if previous is not None and start < previous:
            window += 1
        previous = start
        offset = window * window_seconds
        chunks.append((offset + start, offset + end, str(chunk.get("text", "")).strip()))
    return document["text"].strip(), chunks


def crop_frames(folder):
    """{frame number: crop path} of a video's folder of organizer crops (``frame-<n>.jpg``, n from 0)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder}: the video's folder of cropped-aligned faces is missing")
    frames = {}
    for path in folder.iterdir():
        match = CROP_NAME.match(path.name)
        if match:
            frames[int(match.group(1))] = path
    return dict(sorted(frames.items()))


def transcript_path(root, settings, video):
    """``<transcript folder>/<video path>/<video stem>.yml``: Whisper's output for one video."""
    return Path(root) / settings["transcript_folder"] / video / f"{Path(video).stem}.yml"


def read_transcripts(root, settings, subjects):
    """One row per spoken chunk of every subject's video: (subject, start, end, text), times in seconds from
    the video's start. A transcript without chunks is one chunk covering the whole video."""
    import polars as pl

    rows = []
    for subject, video in subjects.select("subject", "video").rows():
        path = transcript_path(root, settings, video)
        text, chunks = read_transcript(path, settings["transcript_window_seconds"])
        chunks = chunks or [(0.0, float("inf"), text)]
        rows += [(subject, start, end, words) for start, end, words in chunks]
    return pl.DataFrame(
        rows, schema={"subject": pl.String, "start": pl.Float64, "end": pl.Float64, "text": pl.String}, orient="row"
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

"""The Hume-Vidmimic2 layout (ABAW6 onwards, Emotional Mimicry Intensity): one person imitating a seed video
per video, six intensities per video.

As participants' code shows it (the organizers' own description of the files was not found, so every name
is a setting): ``train_split.csv`` and ``valid_split.csv`` with the header
``Filename,Admiration,Amusement,Determination,Empathic Pain,Excitement,Joy`` (a space in "Empathic Pain"),
videos ``raw/<id>.mp4`` and sound ``audio/<id>.mp3`` for both, and the test videos in ``test/raw/<id>.mp4``
with no label file: the test list is the set of videos on disk. ``Filename`` is a five-digit id; a table
saved by a spreadsheet or by pandas loses its leading zeros (``7`` for ``00007``), so ids are read as text
and padded back.
"""

import logging
import re
from pathlib import Path

import polars as pl

from abawflow.core.errors import AnnotationFormatError, DatasetLayoutError
from abawflow.datasets.csv_tables import parse_intensities, table_rows
from abawflow.datasets.folders import files_under
from abawflow.datasets.transcripts import transcripts_table
from abawflow.tasks.specs import MIMICRY_EMOTIONS as EMOTIONS

log = logging.getLogger(__name__)

ID_COLUMN = "Filename"
DIGITS = re.compile(r"^\d+$")


class MediaFolder(dict):
    """id -> path of one kind of media file under ``folder`` (None: the setting is empty)."""

    def __init__(self, folder, files):
        super().__init__(files)
        self.folder = folder


def parse_video_id(text, digits, where):
    """The id of a ``Filename`` cell, zero-padded to ``digits`` (``7``, ``7.0`` and ``00007`` are one video)."""
    cell = text.strip()
    if cell.endswith(".0") and DIGITS.match(cell[:-2]):  # a spreadsheet's float
        cell = cell[:-2]
    if cell.endswith(".mp4"):
        cell = cell[: -len(".mp4")]
    if not DIGITS.match(cell):
        raise AnnotationFormatError(f"{where}: {ID_COLUMN} {text!r} is not a video id such as 00000")
    if len(cell) > digits:
        raise AnnotationFormatError(f"{where}: {ID_COLUMN} {text!r} has more than {digits} digits (id_digits)")
    return cell.zfill(digits)


def read_label_file(path, digits):
    """Rows (id, six intensities, line number) of a label file, checked line by line."""
    path = Path(path)
    rows, seen = [], {}
    expected = f"{ID_COLUMN},{','.join(EMOTIONS)}"
    for number, cells in table_rows(path, (ID_COLUMN, *EMOTIONS), expected, "the Hume-Vidmimic2 label file"):
        where = f"{path}, line {number}"
        video = parse_video_id(cells[ID_COLUMN], digits, where)
        if video in seen:
            raise AnnotationFormatError(f"{where}: video {video} is listed again (first on line {seen[video]})")
        seen[video] = number
        rows.append((video, parse_intensities(cells, EMOTIONS, where), number))
    if not rows:
        raise AnnotationFormatError(f"{path}: no videos listed")
    return rows


def files_by_id(folder, extension, digits):
    """id -> path of the ``<id><extension>`` files under ``folder`` (linked folders followed: a release on
    shared storage is often linked in batch by batch), or {} when the folder is absent."""
    found = {}
    if not folder.is_dir():
        return found
    for path in files_under(folder):
        if path.suffix.lower() != extension or not DIGITS.match(path.stem):
            continue
        video = parse_video_id(path.stem, digits, str(path))
        if video in found:
            raise DatasetLayoutError(f"{path}: video {video} is also at {found[video]}")
        found[video] = path
    return found


def read_transcripts(root, settings, subjects):
    """The transcripts made for the release (none ship with it: teams transcribe the sound themselves), one
    Whisper-style ``<transcript_folder>/<id>.yml`` per video (abawflow/datasets/transcripts.py)."""
    folder = Path(root) / settings["transcript_folder"]
    return transcripts_table(
        subjects, lambda subject, video: folder / f"{subject}.yml", settings["transcript_window_seconds"]
    )


def layout_files(root, settings):
    """Every file the index reads: the label files and what lies under the media folders (its rerun trigger)."""
    root = Path(root)
    files = [root / name for name in settings["label_files"].values()]
    for key in ("video_folder", "audio_folder", "test_video_folder", "test_audio_folder"):
        if settings[key] and (root / settings[key]).is_dir():
            files += files_under(root / settings[key])
    return sorted(set(files))


def index_hume_vidmimic2(root, settings):
    """(subjects, splits, {"emi": labels}) of a Hume-Vidmimic2 root: subjects as the face and audio stages
    read them (``video_path``; ``audio_path`` the sound file, or the video's own track where the sound folder
    is empty), splits of task emi, and one label row per training and validation video.

    ``settings``: ``label_files`` (split -> file, train and validation), ``video_folder``, ``audio_folder``
    and ``audio_extension`` of the labelled videos, ``test_video_folder`` and ``test_audio_folder`` (the test
    sound is unconfirmed: empty means the video's own track), ``id_digits``."""
    root = Path(root)
    digits = settings["id_digits"]
    subjects, splits, labels, where_listed = [], [], [], {}

    def add(video, split, videos, sounds, where, source):
        if video not in videos:
            raise DatasetLayoutError(f"{where}: video {video}'s file {video}.mp4 is not under {videos.folder}")
        video_path = videos[video]
        audio_path = sounds.get(video) if sounds.folder else video_path
        if audio_path is None:
            raise DatasetLayoutError(
                f"{where}: video {video}'s sound file {video}{settings['audio_extension']} is not under {sounds.folder}"
            )
        if video in where_listed:
            raise AnnotationFormatError(f"{where}: video {video} is also listed at {where_listed[video]}")
        where_listed[video] = where
        relative = (str(path.relative_to(root)) for path in (video_path, audio_path))
        subjects.append((video, video, *relative, "single"))
        splits.append(("emi", video, split, source))

    def media(folder, extension):
        return MediaFolder(
            root / folder if folder else None, files_by_id(root / folder, extension, digits) if folder else {}
        )

    videos, sounds = (
        media(settings["video_folder"], ".mp4"),
        media(settings["audio_folder"], settings["audio_extension"]),
    )
    for split in ("train", "validation"):
        name = settings["label_files"][split]
        for video, intensities, number in read_label_file(root / name, digits):
            add(video, split, videos, sounds, f"{root / name}, line {number}", f"{name}:{number}")
            labels.append((video, True, *intensities))
    test_videos = media(settings["test_video_folder"], ".mp4")
    if not test_videos:
        raise DatasetLayoutError(f"{test_videos.folder}: no test videos (<id>.mp4) under it")
    test_sounds = media(settings["test_audio_folder"], settings["audio_extension"])
    for video in sorted(test_videos):
        add(video, "test", test_videos, test_sounds, str(test_videos[video]), settings["test_video_folder"])
    subjects = pl.DataFrame(subjects, schema=["subject", "video", "video_path", "audio_path", "person"], orient="row")
    splits = pl.DataFrame(splits, schema=["task", "subject", "split", "source"], orient="row")
    labels = pl.DataFrame(
        labels,
        schema={"subject": pl.String, "annotated": pl.Boolean, **{name: pl.Float32 for name in EMOTIONS}},
        orient="row",
    )
    for split, rows in splits.group_by("split", maintain_order=True):
        log.info("%s: %d videos", split[0], rows.height)
    return subjects, splits, {"emi": labels}

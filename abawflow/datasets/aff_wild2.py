"""Reading the Aff-Wild2 layout: annotation files, test lists and the video folder.

Format (README, "Data contract"): line 1 is the exact task header, line ``i + 1``
holds the labels of frame ``i`` (1-based). Errors name the file and line.
"""

import logging
from pathlib import Path

import numpy as np
import polars as pl

from abawflow.core.errors import AnnotationFormatError, ConfigError, DatasetLayoutError
from abawflow.datasets.folders import files_under
from abawflow.stage_one.video import VIDEO_SUFFIXES
from abawflow.tasks.specs import TASKS

log = logging.getLogger(__name__)

PERSON_SUFFIXES = ("_left", "_right")
SPLIT_FOLDERS = {"train": "Train_Set", "validation": "Validation_Set"}


def split_subject(subject):
    """``video10_left`` -> (``video10``, ``left``); ``video3`` -> (``video3``, ``single``)."""
    for suffix in PERSON_SUFFIXES:
        if subject.endswith(suffix):
            return subject[: -len(suffix)], suffix[1:]
    return subject, "single"


def read_annotation_file(path, spec):
    """Parse one annotation file into (frames, values, annotated).

    ``frames`` are 1-based frame numbers, ``values`` a float array with one
    column per label column, ``annotated`` a boolean mask (False where the
    task's missing marker appears).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise AnnotationFormatError(f"{path}: cannot read annotation file ({error})") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise AnnotationFormatError(f"{path}: file is empty; expected the header line {','.join(spec.header)!r}")
    header = tuple(column.strip() for column in lines[0].split(","))
    if header != spec.header:
        raise AnnotationFormatError(
            f"{path}, line 1: header is {lines[0]!r}; expected exactly {','.join(spec.header)!r} "
            f"for the {spec.name.upper()} task"
        )
    width = len(spec.label_columns)
    values = np.empty((len(lines) - 1, width), dtype=np.float32)
    for index, line in enumerate(lines[1:]):
        line_number = index + 2
        fields = line.split(",")
        if len(fields) != width:
            raise AnnotationFormatError(
                f"{path}, line {line_number}: found {len(fields)} value(s) in {line!r}; "
                f"expected {width} ({','.join(spec.label_columns) if width > 1 else 'one class index'})"
            )
        try:
            row = [float(field) for field in fields]
        except ValueError:
            raise AnnotationFormatError(f"{path}, line {line_number}: {line!r} is not a list of numbers") from None
        problem = spec.validate_row(row)
        if problem:
            raise AnnotationFormatError(f"{path}, line {line_number}: {problem}")
        values[index] = row
    annotated = ~np.any(values == spec.missing_value, axis=1)
    frames = np.arange(1, len(values) + 1, dtype=np.int32)
    return frames, values, annotated


def read_name_list(path, with_line_numbers=False):
    """Read a test-set list: one name per line. Names may carry an image suffix (``name/00001.jpg``) for MTL.
    With ``with_line_numbers``, return (name, line number) pairs."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"{path}: test-set list not found; check dataset.test_lists in config.yaml")
    names, seen = [], {}
    for line_number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if "," in name or " " in name:
            raise AnnotationFormatError(f"{path}, line {line_number}: {line!r}; expected one video name per line")
        if name in seen:
            raise AnnotationFormatError(
                f"{path}, line {line_number}: {name!r} is listed twice (first on line {seen[name]})"
            )
        seen[name] = line_number
        names.append(name)
    return list(seen.items()) if with_line_numbers else names


def dataset_videos(video_root):
    """Map video stem -> path for every video under ``video_root`` (searched recursively)."""
    video_root = Path(video_root)
    if not video_root.is_dir():
        raise DatasetLayoutError(f"{video_root}: video folder not found; check dataset.root and dataset.video_folder")
    videos = {}
    for path in files_under(video_root):
        if path.suffix.lower() in VIDEO_SUFFIXES:
            if path.stem in videos:
                raise DatasetLayoutError(f"two videos share the name {path.stem!r}: {videos[path.stem]} and {path}")
            videos[path.stem] = path
    if not videos:
        raise DatasetLayoutError(f"{video_root}: no videos ({', '.join(VIDEO_SUFFIXES)}) found")
    return videos


class SubjectRegister:
    """Subjects (person-videos) as the files name them: ``<video>`` or ``<video>_left``/``_right``."""

    def __init__(self, root, video_folder, excluded=()):
        self.root, self.video_root = Path(root), Path(root) / video_folder
        self.videos = dataset_videos(self.video_root)
        unknown = sorted(set(excluded) - set(self.videos))
        if unknown:
            raise ConfigError(
                f"config.yaml: dataset.exclude_videos names {unknown[0]!r}, which is not a video under "
                f"{self.video_root} (give video file names without their suffix)"
            )
        self.excluded = set(excluded)
        self.subjects = {}
        self.sources = {}  # subject -> the first file naming it

    def add(self, subject, source):
        """Register a subject a file names; False (and a warning) for a video excluded by config."""
        video, person = split_subject(subject)
        if video in self.excluded:
            log.warning("%s: skipped, video %r is in dataset.exclude_videos", source, video)
            return False
        if video not in self.videos:
            raise DatasetLayoutError(f"{source}: refers to video {video!r}, which is not under {self.video_root}")
        # One naming per video: the whole frame's person, or the left and right ones; never both.
        other = next(
            (s for s, (v, _, p) in self.subjects.items() if v == video and (p == "single") != (person == "single")),
            None,
        )
        if other is not None:
            raise AnnotationFormatError(
                f"{source}: names {subject!r}, but {self.sources[other]} names {other!r} for the same video "
                f"{video!r}; a video is annotated either as one person ({video!r}) or as {video + '_left'!r} / "
                f"{video + '_right'!r}, not both"
            )
        self.subjects[subject] = (video, str(self.videos[video].relative_to(self.root)), person)
        self.sources.setdefault(subject, source)
        return True

    def add_test(self, subject, source):
        if split_subject(subject)[0] in self.excluded:
            raise ConfigError(
                f"{source}: test video {subject!r} is in dataset.exclude_videos, but a submission needs every "
                "test video; replace its file instead"
            )
        self.add(subject, source)

    def table(self):
        return pl.DataFrame(
            [(name, *self.subjects[name]) for name in sorted(self.subjects)],
            schema=["subject", "video", "video_path", "person"],
            orient="row",
        )


def check_layout(root, annotation_folder, challenge_folders, test_lists, video_folder, tasks):
    """The folders and lists the index of ``tasks`` reads are where the config says: checked when the run is
    planned, so that a name of another ABAW edition stops the dry run, naming the path it looked for and
    what its folder holds instead."""
    root = Path(root)
    expected = [(root, "dataset.root", True), (root / video_folder, "dataset.video_folder", True)]
    expected.append((root / annotation_folder, "dataset.annotation_folder", True))
    for task in tasks:
        folder = root / annotation_folder / challenge_folders[task]
        expected.append((folder, f"dataset.challenge_folders.{task}", True))
        expected += [(folder / split, f"dataset.challenge_folders.{task}", True) for split in SPLIT_FOLDERS.values()]
        expected.append((root / test_lists[task], f"dataset.test_lists.{task}", False))
    for path, key, is_folder in expected:
        if path.is_dir() if is_folder else path.is_file():
            continue
        parent = next((folder for folder in path.parents if folder.is_dir()), None)
        held = sorted(entry.name + "/" * entry.is_dir() for entry in parent.iterdir()) if parent else []
        listing = ", ".join(held[:20]) + (f" and {len(held) - 20} more" if len(held) > 20 else "")
        raise DatasetLayoutError(
            f"{path}: {'folder' if is_folder else 'file'} not found ({key}; dataset.edition names the folders "
            f"and lists of each ABAW release); {parent} holds: {listing or 'nothing'}"
        )


def annotation_folder_of(root, annotation_folder, challenge_folders, task):
    folder = Path(root) / annotation_folder / challenge_folders[task]
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder}: annotation folder of the {task.upper()} task not found")
    return folder


def index_subjects(
    root, annotation_folder, challenge_folders, test_lists, video_folder="videos", tasks=tuple(TASKS), exclude_videos=()
):
    """The person-videos the annotation files and test lists name, from their names alone (no label is read):
    a table (subject, video, video_path, person), the same as ``index_dataset``'s."""
    register = SubjectRegister(root, video_folder, exclude_videos)
    for task in tasks:
        folder = annotation_folder_of(root, annotation_folder, challenge_folders, task)
        for split_folder in SPLIT_FOLDERS.values():
            for path in sorted((folder / split_folder).glob("*.txt")):
                register.add(path.stem, path)
        test_path = Path(root) / test_lists[task]
        for name in read_name_list(test_path):
            register.add_test(name, test_path)
    return register.table()


def index_dataset(
    root, annotation_folder, challenge_folders, test_lists, video_folder="videos", tasks=tuple(TASKS), exclude_videos=()
):
    """Index a dataset in the Aff-Wild2 layout.

    Returns ``(subjects, splits, labels)``: a table of person-videos with their
    video file, a table (task, subject, split, source) and a dict task -> long
    label table (subject, frame, annotated, label columns).
    """
    root = Path(root)
    register = SubjectRegister(root, video_folder, exclude_videos)
    split_rows, labels = [], {}

    for task in tasks:
        spec = TASKS[task]
        folder = annotation_folder_of(root, annotation_folder, challenge_folders, task)
        task_labels, seen = [], {}
        for split, split_folder in SPLIT_FOLDERS.items():
            files = sorted((folder / split_folder).glob("*.txt"))
            if not files:
                raise DatasetLayoutError(f"{folder / split_folder}: no annotation files (*.txt) found")
            for path in files:
                subject = path.stem
                if subject in seen:
                    raise DatasetLayoutError(
                        f"{path}: {subject!r} is annotated in both {seen[subject]} and {split_folder}"
                    )
                seen[subject] = split_folder
                if not register.add(subject, path):
                    continue
                frames, values, annotated = read_annotation_file(path, spec)
                table = pl.DataFrame({"subject": [subject] * len(frames), "frame": frames, "annotated": annotated})
                table = table.with_columns(
                    [pl.Series(column, values[:, i]) for i, column in enumerate(spec.label_columns)]
                )
                task_labels.append(table)
                split_rows.append((task, subject, split, str(path.relative_to(root))))
        test_path = root / test_lists[task]
        for name in read_name_list(test_path):
            if name in seen:
                raise DatasetLayoutError(
                    f"{test_path}: {name!r} is a test video but also has a {seen[name]} annotation"
                )
            register.add_test(name, test_path)
            split_rows.append((task, name, "test", str(test_path.relative_to(root))))
        labels[task] = pl.concat(task_labels)
        if spec.kind.integer_labels:
            labels[task] = labels[task].with_columns(pl.col("expression").cast(pl.Int8))
    subject_table = register.table()
    split_table = pl.DataFrame(split_rows, schema=["task", "subject", "split", "source"], orient="row")
    return subject_table, split_table, labels


VIDEO_COLUMNS = ("frames", "declared_frames", "fps", "width", "height", "variable_frame_rate", "rotation")


def tested_subjects(root, test_lists, tasks=tuple(TASKS)):
    """Subject -> the tasks whose test list names it."""
    named = {}
    for task in tasks:
        for name in read_name_list(Path(root) / test_lists[task]):
            named.setdefault(name, []).append(task)
    return named


def probe_subject_videos(subjects, root, tested, truncated_test_video="error"):
    """The subjects table with what each video's probe found (VIDEO_COLUMNS), after the truncation policy:

    - a video the decoder cannot open, or whose first or last frame does not decode: VideoDecodeError;
    - more than FRAME_COUNT_SLACK fewer decodable frames than the container declares (a truncated file): for
      a video with a test
      subject (``tested``: subject -> tasks) an error unless ``truncated_test_video`` is
      ``use_decodable_frames`` (the submission then covers the decodable frames only, which the
      organizers' checker may reject); for other videos a warning, and the decodable frames are used
      (annotation lines past them have no image, as for any short video);
    - a variable frame rate: a warning (frame numbers, not times, anchor the labels).
    """
    from abawflow.core.errors import VideoDecodeError
    from abawflow.stage_one.video import FRAME_COUNT_SLACK, probe_video

    probes = {}
    for video, video_path in subjects.select("video", "video_path").unique(maintain_order=True).rows():
        path = Path(root) / video_path
        probe = probes[video] = probe_video(path)
        members = subjects.filter(pl.col("video") == video)["subject"].to_list()
        tasks = sorted({task for subject in members for task in tested.get(subject, ())})
        if 0 < probe.frames_missing <= FRAME_COUNT_SLACK:
            log.info(
                "%s: the container declares %d frames, %d decode (within the %d-frame slack of headers)",
                path,
                probe.declared_frames,
                probe.frames,
                FRAME_COUNT_SLACK,
            )
        elif probe.frames_missing:
            message = (
                f"{path}: the container declares {probe.declared_frames} frames but only {probe.frames} decode "
                f"(frames {probe.frames + 1}..{probe.declared_frames} are missing; the file looks truncated)"
            )
            if tasks and truncated_test_video == "error":
                raise VideoDecodeError(
                    f"{message}. It is a test video of {', '.join(t.upper() for t in tasks)}, whose submission "
                    "needs every frame: replace the file, or set dataset.truncated_test_video: "
                    "use_decodable_frames to submit the decodable frames only"
                )
            log.warning("%s; using the %d decodable frames", message, probe.frames)
        if probe.rotation:
            log.info("%s: stored turned; its frames are turned %d degrees to show them upright", path, probe.rotation)
        if probe.variable_frame_rate:
            log.warning("%s: variable frame rate (%.2f fps on average); labels follow frame numbers", path, probe.fps)
    columns = {name: [getattr(probes[video], name) for video in subjects["video"]] for name in VIDEO_COLUMNS}
    return subjects.with_columns(
        pl.Series("frames", columns["frames"], pl.Int32),
        pl.Series("declared_frames", columns["declared_frames"], pl.Int32),
        pl.Series("fps", columns["fps"], pl.Float64),
        pl.Series("width", columns["width"], pl.Int32),
        pl.Series("height", columns["height"], pl.Int32),
        pl.Series("variable_frame_rate", columns["variable_frame_rate"], pl.Boolean),
        pl.Series("rotation", columns["rotation"], pl.Int16),
    )

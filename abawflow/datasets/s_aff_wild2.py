"""The s-Aff-Wild2 layout of the multi-task-learning challenge (ABAW3/4/7): the organizers' crops, the
combined annotation files and the test list.

Annotation files: header ``image,valence,arousal,expression,AU1,...,AU26``, then one row per image
``<video>/<frame>.jpg,v,a,class,au1..au12``, with -5 (VA) and -1 (expression, AUs) for missing labels.
The test list has one image name per line.
"""

import re
from pathlib import Path

import numpy as np
import polars as pl

from abawflow.core.errors import AnnotationFormatError, DatasetLayoutError
from abawflow.datasets.aff_wild2 import read_name_list
from abawflow.tasks.specs import ACTION_UNITS, TASKS

HEADER = ("image", "valence", "arousal", "expression", *ACTION_UNITS)


IMAGE_NAME = re.compile(r"^(?P<video>[^/\\,\s]+)/(?P<frame>\d+)\.jpg$")


TASK_COLUMNS = {"va": slice(0, 2), "expr": slice(2, 3), "au": slice(3, 15)}


def parse_image(name, path, line_number):
    match = IMAGE_NAME.match(name)
    if not match:
        raise AnnotationFormatError(
            f"{path}, line {line_number}: image {name!r}; expected <video>/<frame number>.jpg, e.g. video45_1/00008.jpg"
        )
    return match["video"], int(match["frame"])


def read_mtl_annotations(path):
    """Rows of one MTL annotation file: a table (image, subject, frame, label columns of every task,
    annotated_<task>). Errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"{path}: MTL annotation file not found; check mtl.root and mtl.annotation_files")
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or tuple(c.strip() for c in lines[0].split(",")) != HEADER:
        found = repr(lines[0]) if lines else "an empty file"
        raise AnnotationFormatError(f"{path}, line 1: header is {found}; expected exactly {','.join(HEADER)!r}")
    images, subjects, frames, values, seen = [], [], [], [], {}
    for line_number, line in enumerate(lines[1:], start=2):
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != len(HEADER):
            raise AnnotationFormatError(
                f"{path}, line {line_number}: found {len(fields)} field(s) in {line!r}; expected {len(HEADER)} "
                f"({','.join(HEADER)})"
            )
        image = fields[0]
        if image in seen:
            raise AnnotationFormatError(
                f"{path}, line {line_number}: {image!r} is listed twice (first on line {seen[image]})"
            )
        seen[image] = line_number
        subject, frame = parse_image(image, path, line_number)
        try:
            row = [float(field) for field in fields[1:]]
        except ValueError:
            raise AnnotationFormatError(f"{path}, line {line_number}: {line!r}: the labels are not numbers") from None
        for task, columns in TASK_COLUMNS.items():
            problem = TASKS[task].validate_row(row[columns])
            if problem:
                raise AnnotationFormatError(f"{path}, line {line_number}: {task.upper()} {problem}")
        images.append(image)
        subjects.append(subject)
        frames.append(frame)
        values.append(row)
    values = np.array(values, dtype=np.float32).reshape(-1, len(HEADER) - 1)
    table = pl.DataFrame({"image": images, "subject": subjects, "frame": np.array(frames, dtype=np.int32)})
    columns = {}
    for task, sl in TASK_COLUMNS.items():
        spec = TASKS[task]
        for k, name in enumerate(spec.label_columns):
            columns[name] = values[:, sl][:, k]
        columns[f"annotated_{task}"] = ~np.any(values[:, sl] == spec.missing_value, axis=1)
    return table.with_columns([pl.Series(name, data) for name, data in columns.items()])


def read_mtl_test_list(path):
    """Test image names in list order; each must be ``<video>/<frame>.jpg``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"{path}: MTL test list not found; check mtl.root and mtl.test_list")
    pairs = read_name_list(path, with_line_numbers=True)
    for image, line_number in pairs:
        parse_image(image, path, line_number)
    return [image for image, _ in pairs]


def index_mtl(root, crops_folder, annotation_files, test_list):
    """(images, splits, labels per task) of an s-Aff-Wild2 copy; every listed crop must exist.

    ``images``: position (the row in its file), image, subject, frame, split.
    ``splits``: task, split, subject (the same videos for every task).
    ``labels``: task -> (subject, frame, annotated, label columns), the video tasks' layout.
    """
    root = Path(root)
    tables = {}
    for split, name in annotation_files.items():
        tables[split] = read_mtl_annotations(root / name).with_columns(pl.lit(split).alias("split"))
    test = read_mtl_test_list(root / test_list)
    test_table = pl.DataFrame(
        {
            "image": test,
            "subject": [IMAGE_NAME.match(i)["video"] for i in test],
            "frame": [int(IMAGE_NAME.match(i)["frame"]) for i in test],
        },
        schema={"image": pl.String, "subject": pl.String, "frame": pl.Int32},
    ).with_columns(pl.lit("test").alias("split"))
    images = pl.concat(
        [
            t.select("image", "subject", "frame", "split").with_row_index("position")
            for t in [*tables.values(), test_table]
        ]
    )
    owners = images.group_by("subject").agg(pl.col("split").unique())
    shared = owners.filter(pl.col("split").list.len() > 1)
    if shared.height:
        row = shared.row(0, named=True)
        raise AnnotationFormatError(
            f"{root}: video {row['subject']!r} has images in several splits ({', '.join(sorted(row['split']))}); "
            "s-Aff-Wild2 splits are by video"
        )
    duplicated = images.filter(pl.col("image").is_duplicated())
    if duplicated.height:
        raise AnnotationFormatError(
            f"{root}: {duplicated['image'][0]!r} is both in an annotation file and the test list"
        )
    crops = root / crops_folder
    missing = [image for image in images["image"].to_list() if not (crops / image).is_file()]
    if missing:
        raise DatasetLayoutError(
            f"{crops}: {len(missing)} listed crop(s) not found, e.g. {missing[0]!r}; "
            "check mtl.root and mtl.crops_folder"
        )
    splits = pl.concat(
        [
            images.select("subject", "split").unique(maintain_order=True).with_columns(pl.lit(task).alias("task"))
            for task in TASKS
        ]
    ).select("task", "split", "subject")
    annotated = pl.concat(list(tables.values()))
    labels = {
        task: annotated.select("subject", "frame", pl.col(f"annotated_{task}").alias("annotated"), *spec.label_columns)
        for task, spec in TASKS.items()
    }
    return images.sort(["subject", "frame"]), splits, labels

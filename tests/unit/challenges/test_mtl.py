"""The MTL challenge's data contract: s-Aff-Wild2 annotation files, test list, crops, metric, submission file."""

import re

import polars as pl
import pytest

from abawflow.challenges.mtl import mtl_score, mtl_submission_text
from abawflow.challenges.submission import per_video_texts, prediction_table
from abawflow.core.errors import AnnotationFormatError, DatasetLayoutError
from abawflow.datasets.demo.s_aff_wild2 import make_mtl_demo
from abawflow.datasets.s_aff_wild2 import HEADER, index_mtl, read_mtl_annotations

FILES = {"train": "training_set_annotations.txt", "validation": "validation_set_annotations.txt"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_mtl_demo(
        tmp_path_factory.mktemp("mtl") / "data", seed=3, videos=4, frames_per_video=60, images_per_video=12
    )


def test_demo_follows_the_layout_and_indexes(demo):
    images, splits, labels = index_mtl(demo, "cropped_aligned", FILES, "MTL_test_set_release.txt")
    assert images.height == 4 * 12
    assert set(images["split"]) == {"train", "validation", "test"}
    assert (demo / "cropped_aligned" / images["image"][0]).is_file()
    header = (demo / FILES["train"]).read_text().splitlines()[0]
    assert header == ",".join(HEADER)
    # Every task is annotated on most images and missing on some, as in s-Aff-Wild2.
    for table in labels.values():
        assert 0.5 < table["annotated"].mean() < 1.0
    assert set(splits["task"]) == {"va", "expr", "au"}
    # Splits are by video.
    assert images.group_by("subject").agg(pl.col("split").n_unique())["split"].max() == 1


def write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_malformed_rows_name_the_file_and_line(tmp_path):
    header = ",".join(HEADER)
    good = "video1_1/00001.jpg,0.1,-0.2,3," + ",".join(["0"] * 12)
    cases = {
        "image,valence,arousal,expression": "line 1: header",
        f"{header}\n{good}\nvideo1_1/00002.png,0.1,0.1,3," + ",".join(["0"] * 12): "line 3: image 'video1_1/00002.png'",
        f"{header}\nvideo1_1/00002.jpg,0.1,0.1,9," + ",".join(["0"] * 12): "line 2: EXPR expected one class index",
        f"{header}\nvideo1_1/00002.jpg,1.5,0.1,3," + ",".join(["0"] * 12): "line 2: VA values must lie in [-1, 1]",
        f"{header}\nvideo1_1/00002.jpg,0.1,0.1,3," + ",".join(["0"] * 11): "line 2: found 15 field(s)",
        f"{header}\n{good}\n{good}": "line 3: 'video1_1/00001.jpg' is listed twice",
    }
    for index, (text, message) in enumerate(cases.items()):
        path = write(tmp_path / f"case{index}.txt", text.splitlines())
        with pytest.raises(AnnotationFormatError, match=re.escape(message)) as error:
            read_mtl_annotations(path)
        assert str(path) in str(error.value)
    table = read_mtl_annotations(
        write(tmp_path / "missing.txt", [header, "v_1/00007.jpg,-5,-5,-1," + ",".join(["-1"] * 12)])
    )
    assert table.select("annotated_va", "annotated_expr", "annotated_au").row(0) == (False, False, False)
    assert table["frame"][0] == 7 and table["subject"][0] == "v_1"


def test_missing_crops_and_videos_in_two_splits_are_errors(demo, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(demo, copy)
    first = next((copy / "cropped_aligned").rglob("*.jpg"))
    first.unlink()
    with pytest.raises(DatasetLayoutError, match="listed crop"):
        index_mtl(copy, "cropped_aligned", FILES, "MTL_test_set_release.txt")
    shutil.rmtree(copy)
    shutil.copytree(demo, copy)
    train = (copy / FILES["train"]).read_text().splitlines()
    validation = (copy / FILES["validation"]).read_text().splitlines()
    (copy / FILES["validation"]).write_text("\n".join([*validation, train[1].replace(".jpg", "9.jpg")]) + "\n")
    (copy / "cropped_aligned" / train[1].split(",")[0].replace(".jpg", "9.jpg")).write_bytes(b"")
    with pytest.raises(AnnotationFormatError, match="several splits"):
        index_mtl(copy, "cropped_aligned", FILES, "MTL_test_set_release.txt")


def test_mtl_score_and_submission_text():
    scores = {"va": {"score": 0.5}, "expr": {"score": 0.3}, "au": {"score": 0.4}}
    assert mtl_score(scores) == pytest.approx(1.2)
    predictions = {"a/00002.jpg": (0.5, -0.25, 3, [1] + [0] * 11), "a/00001.jpg": (0.0, 0.0, 0, [0] * 12)}
    text = mtl_submission_text(predictions, ["a/00001.jpg", "a/00002.jpg"])
    assert text.splitlines() == [
        "image,valence,arousal,expression,aus",
        "a/00001.jpg,0.000000,0.000000,0," + ",".join(["0"] * 12),
        "a/00002.jpg,0.500000,-0.250000,3,1," + ",".join(["0"] * 11),
    ]
    with pytest.raises(DatasetLayoutError, match="a/00003.jpg"):
        mtl_submission_text(predictions, ["a/00003.jpg"])


def test_abaw3_format_is_one_file_per_video_with_the_annotation_header():
    import numpy as np

    table = pl.concat(
        [
            prediction_table("expr", name, "test", np.arange(1, n + 1), np.ones(n, bool), np.eye(8)[np.arange(n) % 8])
            for name, n in (("v2", 3), ("v1", 2))
        ]
    )
    files = per_video_texts("expr", table, ["v1", "v2"])
    assert list(files) == ["v1.txt", "v2.txt"]
    assert files["v2.txt"].splitlines() == [
        "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other",
        "0",
        "1",
        "2",
    ]

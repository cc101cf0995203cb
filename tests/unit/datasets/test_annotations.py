import cv2
import numpy as np
import pytest

from abawflow.core.errors import AnnotationFormatError, DatasetLayoutError
from abawflow.datasets.aff_wild2 import index_dataset, read_annotation_file, read_name_list, split_subject
from abawflow.tasks.specs import AU, EXPR, VA


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_va_file_is_parsed_exactly(tmp_path):
    path = write(tmp_path / "a.txt", "valence,arousal\n0.5,-0.25\n-5,-5\n-1,1\n")
    frames, values, annotated = read_annotation_file(path, VA)
    assert frames.tolist() == [1, 2, 3]
    assert values.tolist() == [[0.5, -0.25], [-5, -5], [-1, 1]]
    assert annotated.tolist() == [True, False, True]


def test_expr_file_one_index_per_line(tmp_path):
    path = write(tmp_path / "e.txt", "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n0\n7\n-1\n4\n")
    frames, values, annotated = read_annotation_file(path, EXPR)
    assert values[:, 0].tolist() == [0, 7, -1, 4]
    assert annotated.tolist() == [True, True, False, True]


def test_au_file_with_crlf_and_trailing_blank_line(tmp_path):
    row = ",".join(["1", "0"] * 6)
    path = write(tmp_path / "u.txt", ",".join(AU.header) + "\r\n" + row + "\r\n" + ",".join(["-1"] * 12) + "\r\n\r\n")
    frames, values, annotated = read_annotation_file(path, AU)
    assert values.shape == (2, 12)
    assert annotated.tolist() == [True, False]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("arousal,valence\n0,0\n", "line 1: header is 'arousal,valence'"),
        ("valence,arousal\n0.1,0.2\n0.3\n", "line 3: found 1 value(s)"),
        ("valence,arousal\n0.1,abc\n", "line 2: '0.1,abc' is not a list of numbers"),
        ("valence,arousal\n0.1,0.2\n1.5,0\n", "line 3: values must lie in [-1, 1]"),
        ("", "file is empty"),
    ],
)
def test_malformed_va_files_name_file_and_line(tmp_path, text, fragment):
    path = write(tmp_path / "bad.txt", text)
    with pytest.raises(AnnotationFormatError) as error:
        read_annotation_file(path, VA)
    assert str(path) in str(error.value)
    assert fragment in str(error.value)


def test_out_of_range_expression_and_non_binary_au(tmp_path):
    expr = write(tmp_path / "e.txt", ",".join(EXPR.header) + "\n3\n8\n")
    with pytest.raises(AnnotationFormatError, match=r"e\.txt, line 3: expected one class index 0\.\.7"):
        read_annotation_file(expr, EXPR)
    au = write(tmp_path / "u.txt", ",".join(AU.header) + "\n" + ",".join(["0"] * 11 + ["2"]) + "\n")
    with pytest.raises(AnnotationFormatError, match=r"u\.txt, line 2: expected 0 or 1"):
        read_annotation_file(au, AU)


def test_name_list_rejects_duplicates(tmp_path):
    path = write(tmp_path / "test.txt", "a\nb_left\n\na\n")
    with pytest.raises(AnnotationFormatError, match=r"line 4: 'a' is listed twice \(first on line 1\)"):
        read_name_list(path)
    assert read_name_list(write(tmp_path / "ok.txt", "a\nb_left\n")) == ["a", "b_left"]


def test_split_subject():
    assert split_subject("10-60-1280x720_right") == ("10-60-1280x720", "right")
    assert split_subject("video5_left") == ("video5", "left")
    assert split_subject("video5") == ("video5", "single")


def make_video(path, frames=5):
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for _ in range(frames):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()


def make_layout(root):
    make_video(root / "videos" / "batch1" / "a.mp4")
    make_video(root / "videos" / "batch2" / "b.mp4")
    folders = {"va": "VA_Estimation_Challenge", "expr": "EXPR_Recognition_Challenge", "au": "AU_Detection_Challenge"}
    headers = {
        "va": ("valence,arousal", "0.1,0.2"),
        "expr": (",".join(EXPR.header), "3"),
        "au": (",".join(AU.header), ",".join(["0"] * 12)),
    }
    lists = {}
    for task, folder in folders.items():
        header, row = headers[task]
        write(root / "ann" / folder / "Train_Set" / "a.txt", f"{header}\n{row}\n{row}\n")
        write(root / "ann" / folder / "Validation_Set" / "b_left.txt", f"{header}\n{row}\n")
        lists[task] = f"tests_{task}.txt"
        write(root / lists[task], "b_right\n")
    return folders, lists


def test_index_dataset_tables(tmp_path):
    folders, lists = make_layout(tmp_path)
    subjects, splits, labels = index_dataset(tmp_path, "ann", folders, lists)
    assert subjects["subject"].to_list() == ["a", "b_left", "b_right"]
    assert subjects["person"].to_list() == ["single", "left", "right"]
    assert subjects["video_path"].to_list()[0] == "videos/batch1/a.mp4"
    va = splits.filter(splits["task"] == "va")
    assert va.select("subject", "split").rows() == [("a", "train"), ("b_left", "validation"), ("b_right", "test")]
    assert labels["va"]["frame"].to_list() == [1, 2, 1]
    assert labels["expr"]["expression"].to_list() == [3, 3, 3]


def test_index_dataset_missing_video_names_annotation_file(tmp_path):
    folders, lists = make_layout(tmp_path)
    write(tmp_path / "ann" / folders["va"] / "Train_Set" / "ghost.txt", "valence,arousal\n0,0\n")
    with pytest.raises(DatasetLayoutError, match=r"ghost\.txt: refers to video 'ghost'"):
        index_dataset(tmp_path, "ann", folders, lists)


def test_index_dataset_test_video_with_labels_is_rejected(tmp_path):
    folders, lists = make_layout(tmp_path)
    write(tmp_path / lists["au"], "a\n")
    with pytest.raises(DatasetLayoutError, match="'a' is a test video but also has a Train_Set annotation"):
        index_dataset(tmp_path, "ann", folders, lists)


def test_a_video_named_both_as_one_person_and_as_left_right_is_rejected(tmp_path):
    from abawflow.datasets.aff_wild2 import index_subjects

    folders, lists = make_layout(tmp_path)
    write(tmp_path / "ann" / folders["expr"] / "Train_Set" / "b.txt", f"{','.join(EXPR.header)}\n3\n")
    for index in (index_dataset, index_subjects):
        with pytest.raises(AnnotationFormatError, match=r"b\.txt: names 'b', but .*b_left\.txt names 'b_left'"):
            index(tmp_path, "ann", folders, lists)


def test_subjects_from_file_names_alone_equal_the_full_index(tmp_path):
    """index_videos reads names only; its table is the one the full index builds."""
    from abawflow.datasets.aff_wild2 import index_subjects

    folders, lists = make_layout(tmp_path)
    subjects, _, _ = index_dataset(tmp_path, "ann", folders, lists)
    assert index_subjects(tmp_path, "ann", folders, lists).equals(subjects)


def test_an_excluded_video_is_left_out_with_its_annotation_files_but_never_a_test_video(tmp_path, caplog):
    import logging

    from abawflow.core.errors import ConfigError
    from abawflow.datasets.aff_wild2 import index_subjects

    folders, lists = make_layout(tmp_path)
    for task in lists:  # b becomes a training video: only a is listed for test
        write(tmp_path / lists[task], "")
    write(tmp_path / "ann" / folders["va"] / "Train_Set" / "b_right.txt", "valence,arousal\n0.1,0.2\n")
    with caplog.at_level(logging.WARNING):
        subjects, splits, labels = index_dataset(tmp_path, "ann", folders, lists, exclude_videos=["b"])
    assert subjects["subject"].to_list() == ["a"] and set(splits["subject"]) == {"a"}
    assert set(labels["va"]["subject"]) == {"a"}
    assert "b_left.txt: skipped, video 'b' is in dataset.exclude_videos" in caplog.text
    assert index_subjects(tmp_path, "ann", folders, lists, exclude_videos=["b"])["subject"].to_list() == ["a"]
    with pytest.raises(ConfigError, match="dataset.exclude_videos names 'c', which is not a video"):
        index_dataset(tmp_path, "ann", folders, lists, exclude_videos=["c"])
    write(tmp_path / lists["au"], "b_right\n")
    write(
        tmp_path / "ann" / folders["au"] / "Validation_Set" / "b_left.txt",
        f"{','.join(AU.header)}\n{','.join(['0'] * 12)}\n",
    )
    with pytest.raises(ConfigError, match="test video 'b_right' is in dataset.exclude_videos"):
        index_subjects(tmp_path, "ann", folders, lists, exclude_videos=["b"])

"""The Hume-Vidmimic2 (EMI) layout reader: ids kept as padded text, the test list from disk, damaged tables
named by file and line."""

import os

import polars as pl
import pytest

from abawflow.core.errors import AnnotationFormatError, DatasetLayoutError
from abawflow.datasets.hume_vidmimic2 import EMOTIONS, index_hume_vidmimic2

pytestmark = pytest.mark.unit

HEADER = "Filename,Admiration,Amusement,Determination,Empathic Pain,Excitement,Joy"
SETTINGS = {
    "label_files": {"train": "train_split.csv", "validation": "valid_split.csv"},
    "video_folder": "raw",
    "audio_folder": "audio",
    "audio_extension": ".mp3",
    "test_video_folder": "test/raw",
    "test_audio_folder": "",
    "id_digits": 5,
}


def layout(root, train=None, valid=None, test=("00020", "00021"), header=HEADER):
    """A Hume-Vidmimic2 root whose media files exist (the reader checks their presence, not their content)."""
    root.mkdir(parents=True, exist_ok=True)
    train = train if train is not None else ["7,0,0.5,0,0,0,1", "00012,0.333333,0,0,0,0,0"]
    valid = valid if valid is not None else ["00015,0,0,1,0.5,0,0"]
    for name, lines in (("train_split.csv", train), ("valid_split.csv", valid)):
        (root / name).write_text("\ufeff" + header + "\r\n" + "\r\n".join(lines) + "\r\n")
    for folder in ("raw", "audio", "test/raw"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for video in ("00007", "00012", "00015"):
        (root / "raw" / f"{video}.mp4").write_bytes(b"video")
        (root / "audio" / f"{video}.mp3").write_bytes(b"sound")
    for video in test:
        (root / "test" / "raw" / f"{video}.mp4").write_bytes(b"video")
    return root


def test_the_index_pads_ids_lists_test_videos_from_disk_and_keeps_each_label(tmp_path):
    root = layout(tmp_path / "data", test=())
    elsewhere = tmp_path / "shared" / "batch1"  # test videos on shared storage, linked in
    elsewhere.mkdir(parents=True)
    for video in ("00021", "00020"):
        (elsewhere / f"{video}.mp4").write_bytes(b"video")
    os.symlink(elsewhere, root / "test" / "raw" / "batch1")
    (root / "test" / "raw" / "notes.txt").write_text("not a video")
    subjects, splits, tables = index_hume_vidmimic2(root, SETTINGS)
    labels = tables["emi"]
    assert subjects["subject"].to_list() == ["00007", "00012", "00015", "00020", "00021"]
    assert subjects["audio_path"].to_list()[:3] == ["audio/00007.mp3", "audio/00012.mp3", "audio/00015.mp3"]
    assert subjects["audio_path"][3] == subjects["video_path"][3] == "test/raw/batch1/00020.mp4"
    assert splits["split"].to_list() == ["train", "train", "validation", "test", "test"]
    assert splits["source"].to_list()[:3] == ["train_split.csv:2", "train_split.csv:3", "valid_split.csv:2"]
    assert labels.columns == ["subject", "annotated", *EMOTIONS]
    assert labels.filter(pl.col("subject") == "00007").row(0)[2:] == pytest.approx((0, 0.5, 0, 0, 0, 1))
    assert labels.filter(pl.col("subject") == "00012")["Admiration"][0] == pytest.approx(1 / 3, abs=1e-6)


@pytest.mark.parametrize(
    "change, error, message",
    [
        (
            {"header": HEADER.replace("Empathic Pain", "Empathic-Pain")},
            AnnotationFormatError,
            r"train_split.csv, line 1: the header lacks 'Empathic Pain'",
        ),
        ({"train": ["7,0,1.5,0,0,0,1"]}, AnnotationFormatError, r"train_split.csv, line 2: .*Amusement 1.5"),
        (
            {"valid": ["00015,0,0,high,0,0,0"]},
            AnnotationFormatError,
            r"valid_split.csv, line 2: expected 6 intensities",
        ),
        ({"train": ["7,0,0,0,0,0"]}, AnnotationFormatError, r"train_split.csv, line 2: 6 cells, the header has 7"),
        (
            {"train": ["7,0,0,0,0,0,1", "00007,0,0,0,0,0,1"]},
            AnnotationFormatError,
            r"line 3: video 00007 is listed again",
        ),
        ({"train": ["abc,0,0,0,0,0,1"]}, AnnotationFormatError, r"line 2: Filename 'abc' is not a video id"),
        ({"valid": ["7,0,0,0,0,0,1"]}, AnnotationFormatError, r"valid_split.csv, line 2: video 00007 is also listed"),
        (
            {"train": ["00099,0,0,0,0,0,1"]},
            DatasetLayoutError,
            r"train_split.csv, line 2: video 00099's file 00099.mp4 is not under .*/raw$",
        ),
        (
            {"test": ("00007",)},
            AnnotationFormatError,
            r"test/raw/00007.mp4: video 00007 is also listed at .*train_split.csv, line 2",
        ),
        ({"test": ()}, DatasetLayoutError, r"test/raw: no test videos"),
        ({"train": []}, AnnotationFormatError, r"train_split.csv: no videos listed"),
    ],
)
def test_a_damaged_layout_is_named_by_file_and_line(tmp_path, change, error, message):
    root = layout(tmp_path, **change)
    with pytest.raises(error, match=message):
        index_hume_vidmimic2(root, SETTINGS)


def test_a_missing_sound_file_or_label_file_is_named(tmp_path):
    root = layout(tmp_path)
    (root / "audio" / "00012.mp3").unlink()
    with pytest.raises(DatasetLayoutError, match=r"train_split.csv, line 3: video 00012's sound file 00012.mp3 is not"):
        index_hume_vidmimic2(root, SETTINGS)
    (root / "valid_split.csv").unlink()
    with pytest.raises(DatasetLayoutError, match=r"valid_split.csv: the Hume-Vidmimic2 label file is missing"):
        index_hume_vidmimic2(root, {**SETTINGS, "audio_folder": ""})  # the videos' own tracks


def test_the_researchers_own_transcripts_are_read_per_video(tmp_path):
    from abawflow.datasets.hume_vidmimic2 import read_transcripts

    settings = {"transcript_folder": "whisper", "transcript_window_seconds": 30.0}
    subjects = pl.DataFrame({"subject": ["00007", "00012"], "video": ["00007", "00012"]})
    (tmp_path / "whisper").mkdir()
    (tmp_path / "whisper" / "00007.yml").write_text("text: ' wow'\nchunks:\n- {text: ' wow', timestamp: [0.5, 1.0]}\n")
    with pytest.raises(DatasetLayoutError, match=r"whisper/00012.yml: the transcript is missing"):
        read_transcripts(tmp_path, settings, subjects)
    (tmp_path / "whisper" / "00012.yml").write_text("text: ''\nchunks: []\n")
    assert read_transcripts(tmp_path, settings, subjects).rows() == [
        ("00007", 0.5, 1.0, "wow"),
        ("00012", 0.0, float("inf"), ""),
    ]

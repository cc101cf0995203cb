"""The BAH (A/H) readers: split lists whose transcripts hold commas, Whisper transcripts whose timestamps
restart every window, the organizers' crops; damaged files named by file and line."""

import pytest

from abawflow.core.errors import AnnotationFormatError, DatasetLayoutError
from abawflow.datasets.bah import crop_files, index_bah, layout_files, read_split_list
from abawflow.datasets.transcripts import read_transcript

pytestmark = pytest.mark.unit

VIDEO = "Videos/P01/Visite_1/P01_Question_3_2024 05 01_10 00_Video.mp4"  # names may hold spaces


def test_a_split_line_splits_on_its_first_two_commas_only(tmp_path):
    listing = tmp_path / "train.txt"
    listing.write_text(
        f"{VIDEO},1,Well, I mean, maybe, I don't know.\n\nVideos/P02/Visite_1/Q1_Video.mp4,0,\nVideos/P03/a.mp4,0\n"
    )
    rows = read_split_list(listing)
    assert rows == [
        (VIDEO, 1, "Well, I mean, maybe, I don't know.", 1),
        ("Videos/P02/Visite_1/Q1_Video.mp4", 0, "", 3),
        ("Videos/P03/a.mp4", 0, "", 4),
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("Videos/a.mp4\n", r"line 1: expected video_path,label,transcript"),
        ("Videos/a.mp4,0,fine\nVideos/b.mp4,yes,hmm\n", r"line 2: label 'yes' of Videos/b.mp4 is not 0"),
        ("Videos/a.mp4,2,fine\n", r"line 1: label '2'"),
        ("Videos/a.mp4,0,one\nVideos/a.mp4,1,two\n", r"line 2: Videos/a.mp4 is listed again \(first on line 1\)"),
        (",1,words\n", r"line 1: the video path is empty"),
        ("\n\n", r"train.txt: no videos listed"),
    ],
)
def test_a_damaged_split_list_is_named_by_file_and_line(tmp_path, text, message):
    listing = tmp_path / "train.txt"
    listing.write_text(text)
    with pytest.raises(AnnotationFormatError, match=message):
        read_split_list(listing)
    with pytest.raises(DatasetLayoutError, match="the BAH split list is missing"):
        read_split_list(tmp_path / "val.txt")


def test_transcript_timestamps_are_made_absolute_across_whisper_windows(tmp_path):
    transcript = tmp_path / "video.yml"
    transcript.write_text(
        "text: ' I am not sure, really. Yes.'\n"
        "chunks:\n"
        "- {text: ' I am not sure,', timestamp: [0.0, 2.5]}\n"
        "- {text: ' really.', timestamp: [27.0, 29.5]}\n"
        "- {text: ' Yes.', timestamp: [1.0, 2.0]}\n"  # a new 30 s window
        "- {text: ' Fine.', timestamp: [3.0, null]}\n"  # Whisper's last chunk may have no end
    )
    text, chunks = read_transcript(transcript)
    assert text == "I am not sure, really. Yes."
    assert chunks == [
        (0.0, 2.5, "I am not sure,"),
        (27.0, 29.5, "really."),
        (31.0, 32.0, "Yes."),
        (33.0, 33.0, "Fine."),
    ]
    assert read_transcript(transcript, window_seconds=20)[1][2][:2] == (21.0, 22.0)


@pytest.mark.parametrize(
    "text, message",
    [
        ("text: [unclosed\n", r"video.yml, line \d: not a YAML transcript \(expected ',' or ']'"),
        ("- just a list\n", r"expected a mapping with `text`"),
        ("text: hi\nchunks:\n- {text: hi, timestamp: 3}\n", r"chunks\[0\]: expected timestamp \[start, end\]"),
        ("text: hi\nchunks:\n- {text: hi, timestamp: [4.0, 2.0]}\n", r"chunks\[0\]: .* ends before it starts"),
    ],
)
def test_a_transcript_that_does_not_parse_is_named(tmp_path, text, message):
    transcript = tmp_path / "video.yml"
    transcript.write_text(text)
    with pytest.raises(AnnotationFormatError, match=message):
        read_transcript(transcript)


def test_crops_are_numbered_from_zero_in_frame_order(tmp_path):
    folder = tmp_path / "cropped-aligned-faces" / VIDEO
    folder.mkdir(parents=True)
    for n in (10, 0, 2):
        (folder / f"frame-{n}.jpg").write_bytes(b"jpeg")
    (folder / "Thumbs.db").write_bytes(b"")
    assert crop_files(folder) == {1: "frame-0.jpg", 3: "frame-2.jpg", 11: "frame-10.jpg"}  # frames count from 1
    with pytest.raises(DatasetLayoutError, match="folder of cropped-aligned faces is missing; ah.face_source"):
        crop_files(tmp_path / "nowhere")


SETTINGS = {"split_folder": "split", "split_files": {"train": "train.txt", "validation": "val.txt", "test": "test.txt"}}


def bah_root(root, lists):
    for split, lines in lists.items():
        (root / "split").mkdir(parents=True, exist_ok=True)
        (root / "split" / f"{split}.txt").write_text("".join(f"{line}\n" for line in lines))
        for line in lines:
            video = root / line.split(",")[0]
            video.parent.mkdir(parents=True, exist_ok=True)
            video.write_bytes(b"video")
    return root


def test_the_index_names_videos_by_their_path_and_reads_no_test_label(tmp_path):
    root = bah_root(
        tmp_path / "BAH",
        {
            "train": [f"{VIDEO},1,Well, maybe.", "Videos/P02/b.mp4,0,Yes."],
            "val": ["Videos/P03/c.mp4,0,"],
            "test": ["Videos/P04/d.mp4,0,Hmm, no."],
        },
    )
    subjects, splits, labels = index_bah(root, SETTINGS)
    assert subjects["subject"].to_list() == [VIDEO, "Videos/P02/b.mp4", "Videos/P03/c.mp4", "Videos/P04/d.mp4"]
    assert subjects["video_path"].to_list() == subjects["subject"].to_list() and "audio_path" not in subjects.columns
    assert splits["split"].to_list() == ["train", "train", "validation", "test"]
    assert splits["source"][0] == "split/train.txt:1" and set(splits["task"]) == {"ah"}
    assert labels["ah"].rows() == [(VIDEO, True, 1.0), ("Videos/P02/b.mp4", True, 0.0), ("Videos/P03/c.mp4", True, 0.0)]
    assert layout_files(root, SETTINGS) == [root / "split" / name for name in ("train.txt", "val.txt", "test.txt")]


def test_a_listed_video_that_is_absent_or_in_two_splits_is_named_with_its_line(tmp_path):
    root = bah_root(
        tmp_path / "BAH", {"train": ["Videos/a.mp4,1,x"], "val": ["Videos/b.mp4,0,y"], "test": ["Videos/c.mp4,0,"]}
    )
    (root / "split" / "val.txt").write_text("Videos/b.mp4,0,y\nVideos/a.mp4,0,z\n")
    with pytest.raises(
        AnnotationFormatError, match=r"val.txt, line 2: Videos/a.mp4 is also listed at .*train.txt, line 1"
    ):
        index_bah(root, SETTINGS)
    (root / "split" / "val.txt").write_text("Videos/b.mp4,0,y\nVideos/gone.mp4,1,z\n")
    with pytest.raises(DatasetLayoutError, match=r"val.txt, line 2: the video Videos/gone.mp4 is not under"):
        index_bah(root, SETTINGS)


def test_transcripts_are_read_per_video_with_absolute_times(tmp_path):
    import polars as pl

    from abawflow.datasets.bah import read_transcripts

    settings = {"transcript_folder": "transcription", "transcript_window_seconds": 30.0}
    subjects = pl.DataFrame({"subject": [VIDEO, "Videos/b.mp4"], "video": [VIDEO, "Videos/b.mp4"]})
    first = tmp_path / "transcription" / VIDEO / f"{VIDEO.split('/')[-1][:-4]}.yml"
    first.parent.mkdir(parents=True)
    first.write_text(
        "text: ' a b c'\nchunks:\n- {text: ' a', timestamp: [25.0, 29.0]}\n- {text: ' b', timestamp: [1.0, 2.0]}\n"
    )
    second = tmp_path / "transcription" / "Videos/b.mp4" / "b.yml"
    second.parent.mkdir(parents=True)
    second.write_text("text: ' all of it'\nchunks: []\n")
    table = read_transcripts(tmp_path, settings, subjects)
    assert table.rows() == [
        (VIDEO, 25.0, 29.0, "a"),
        (VIDEO, 31.0, 32.0, "b"),
        ("Videos/b.mp4", 0.0, float("inf"), "all of it"),
    ]
    second.unlink()
    with pytest.raises(DatasetLayoutError, match=r"transcription/Videos/b.mp4/b.yml: the transcript is missing"):
        read_transcripts(tmp_path, settings, subjects)

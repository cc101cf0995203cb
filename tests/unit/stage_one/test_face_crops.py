"""The organizers' crops as face tables: one reader for Aff-Wild2's cropped_aligned/ and s-Aff-Wild2's images."""

import logging

import cv2
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from abawflow.core.errors import DatasetLayoutError
from abawflow.stage_one.face_crops import image_crop_rows, subject_crop_rows, write_face_crops
from abawflow.stage_one.face_table import FACE_SCHEMA


def write_video(path, frames, size=(64, 48)):
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, size)
    for t in range(frames):
        writer.write(np.full((size[1], size[0], 3), 10 * t % 255, np.uint8))
    writer.release()


def write_crop(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".jpg", np.full((112, 112, 3), value, np.uint8))
    assert ok
    path.write_bytes(data.tobytes())
    return data.tobytes()


@pytest.fixture
def aff_wild2(tmp_path):
    """Two videos: one person in `solo` (crops missing for frames 5 and 6, one stray past its end), two in
    `pair` (each person's folder of its own)."""
    write_video(tmp_path / "videos" / "solo.mp4", 10)
    write_video(tmp_path / "videos" / "batch2" / "pair.mp4", 6)
    crops = tmp_path / "cropped_aligned"
    stored = {}
    for frame in [*range(1, 5), *range(7, 11), 12]:
        stored[("solo", frame)] = write_crop(crops / "solo" / f"{frame:05d}.jpg", frame)
    for subject in ("pair_left", "pair_right"):
        for frame in range(1, 7):
            stored[(subject, frame)] = write_crop(crops / subject / f"{frame:05d}.jpg", 100 + frame)
    subjects = pl.DataFrame(
        {
            "subject": ["pair_left", "pair_right", "solo"],
            "video": ["pair", "pair", "solo"],
            "video_path": ["videos/batch2/pair.mp4", "videos/batch2/pair.mp4", "videos/solo.mp4"],
            "person": ["left", "right", "single"],
            "frames": [6, 6, 10],  # the index's probe of each video
        }
    )
    return tmp_path, subjects, stored


def test_every_frame_of_each_person_video_gets_a_row_and_a_missing_crop_means_no_face(aff_wild2, caplog):
    root, subjects, stored = aff_wild2
    output = root / "faces.parquet"
    with caplog.at_level(logging.WARNING):
        crops_root = root / "cropped_aligned"
        shard_crops = subject_crop_rows(subjects, root, crops_root, 0, 1)
        assert shard_crops.rows == 10 + 6 + 6  # known before any crop is read: the progress's total
        rows, crops = write_face_crops(shard_crops, crops_root, output)
    table = pq.read_table(output)
    assert table.schema == FACE_SCHEMA
    faces = pl.from_arrow(table)
    assert (rows, crops) == (10 + 6 + 6, 8 + 12)
    solo = faces.filter(pl.col("subject") == "solo").sort("frame")
    assert solo["frame"].to_list() == list(range(1, 11))  # the decoder's 10 frames, not the 9 crops
    assert solo["face_found"].to_list() == [True] * 4 + [False] * 2 + [True] * 4
    assert solo["crop"][4] is None and solo["person"].unique().to_list() == ["single"]
    for subject, frame, crop in faces.filter(pl.col("face_found")).select("subject", "frame", "crop").rows():
        assert crop == stored[(subject, frame)]  # the organizers' bytes, not re-encoded
    assert set(faces.filter(pl.col("video") == "pair")["person"]) == {"left", "right"}
    assert "1 crop(s) numbered outside the video's 10 frames (e.g. 00012.jpg) are not used" in caplog.text


def test_crop_shards_partition_the_videos_as_detection_does(aff_wild2):
    root, subjects, _ = aff_wild2
    shards = [
        {group["subject"][0] for group in subject_crop_rows(subjects, root, root / "cropped_aligned", k, 2).groups}
        for k in range(2)
    ]
    assert shards[0] | shards[1] == {"solo", "pair_left", "pair_right"} and not shards[0] & shards[1]
    assert {"pair_left", "pair_right"} <= shards[0] or {"pair_left", "pair_right"} <= shards[1]


def test_a_person_video_without_a_crop_folder_names_it_and_the_alternative(aff_wild2):
    root, subjects, _ = aff_wild2
    for path in (root / "cropped_aligned" / "pair_right").iterdir():
        path.unlink()
    (root / "cropped_aligned" / "pair_right").rmdir()
    crops = root / "cropped_aligned"
    with pytest.raises(DatasetLayoutError, match=r"pair_right: no crop folder for 'pair_right'.*face_source: detected"):
        write_face_crops(subject_crop_rows(subjects, root, crops, 0, 1), crops, root / "f.parquet")
    assert not (root / "f.parquet").exists()


def test_an_unreadable_crop_is_named(aff_wild2):
    root, subjects, _ = aff_wild2
    (root / "cropped_aligned" / "solo" / "00003.jpg").write_bytes(b"not a jpeg")
    crops = root / "cropped_aligned"
    with pytest.raises(DatasetLayoutError, match=r"solo/00003.jpg: not a readable JPEG image"):
        write_face_crops(subject_crop_rows(subjects, root, crops, 0, 1), crops, root / "f.parquet")
    assert not (root / "f.parquet").exists()


def test_listed_images_become_rows_of_their_video_in_shards(tmp_path):
    crops = tmp_path / "cropped_aligned"
    rows = []
    for video, count in (("video1_1", 5), ("video2", 3), ("video3", 2)):
        for frame in range(1, 2 * count, 2):
            write_crop(crops / video / f"{frame:05d}.jpg", frame)
            rows.append((f"{video}/{frame:05d}.jpg", video, frame))
    images = pl.DataFrame(rows, schema=["image", "subject", "frame"], orient="row")
    seen = []
    for shard in range(2):
        path = tmp_path / f"shard{shard}.parquet"
        write_face_crops(image_crop_rows(images, tmp_path, crops, shard, 2), crops, path)
        seen.append(pl.read_parquet(path))
    both = pl.concat(seen)
    assert both.height == images.height and both["face_found"].all()
    assert set(seen[0]["subject"]).isdisjoint(seen[1]["subject"])
    assert sorted(both.select("subject", "frame").rows()) == sorted(images.select("subject", "frame").rows())

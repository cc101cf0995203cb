"""Datasets linked in from shared storage: every walk follows linked folders, and a link cycle ends."""

import os
import shutil

from abawflow.datasets.aff_wild2 import dataset_videos, index_dataset
from abawflow.datasets.demo.aff_wild2 import NAMES, make_demo_dataset
from abawflow.datasets.folders import files_under


def test_linked_folders_are_walked_and_a_cycle_ends(tmp_path):
    storage = tmp_path / "storage"
    (storage / "batch1").mkdir(parents=True)
    (storage / "batch1" / "a.mp4").write_bytes(b"a")
    (storage / "b.mp4").write_bytes(b"b")
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "batch1").symlink_to(storage / "batch1", target_is_directory=True)
    (videos / "b.mp4").symlink_to(storage / "b.mp4")
    (videos / "batch1_again").symlink_to(storage / "batch1", target_is_directory=True)  # one real folder, twice
    (storage / "batch1" / "loop").symlink_to(videos, target_is_directory=True)  # back up: a cycle
    (videos / "dangling.mp4").symlink_to(tmp_path / "nowhere.mp4")
    assert [p.relative_to(videos).as_posix() for p in files_under(videos)] == ["b.mp4", "batch1/a.mp4"]


def test_a_demo_dataset_linked_in_folder_by_folder_indexes_as_the_original(tmp_path):
    original = make_demo_dataset(tmp_path / "storage", seed=3, videos=4, frames_per_video=40)
    linked = tmp_path / "linked"
    (linked / "videos").mkdir(parents=True)
    for batch in (original / "videos").iterdir():
        (linked / "videos" / batch.name).symlink_to(batch, target_is_directory=batch.is_dir())
    for name in (NAMES["annotation_folder"], "names_of_videos_in_each_test_set", "cropped_aligned"):
        (linked / name).symlink_to(original / name, target_is_directory=True)
    assert sorted(dataset_videos(linked / "videos")) == sorted(dataset_videos(original / "videos"))
    names = (NAMES["annotation_folder"], NAMES["challenge_folders"], NAMES["test_lists"])
    subjects, splits, labels = index_dataset(linked, *names)
    expected_subjects, expected_splits, expected_labels = index_dataset(original, *names)
    assert splits.equals(expected_splits) and all(labels[t].equals(expected_labels[t]) for t in labels)
    same = ["subject", "video", "person"]
    assert subjects.select(same).equals(expected_subjects.select(same)) and subjects.height > 0
    shutil.rmtree(linked / "videos")
    os.symlink(original / "videos", linked / "videos")  # the whole video folder linked
    assert sorted(dataset_videos(linked / "videos")) == sorted(dataset_videos(original / "videos"))

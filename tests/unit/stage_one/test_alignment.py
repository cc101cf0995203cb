import numpy as np
import pytest
import torch
from skimage import data

from abawflow.core.errors import ModelLoadError
from abawflow.stage_one.alignment import PersonPicker, align_face, template_landmarks
from abawflow.stage_one.detection import Detection, create_detector

DOT_COLORS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255]], np.uint8)


def dotted_image(points):
    image = np.zeros((300, 400, 3), np.uint8)
    for point, color in zip(points, DOT_COLORS, strict=True):
        x, y = np.round(point).astype(int)
        image[y - 2 : y + 3, x - 2 : x + 3] = color
    return image


@pytest.mark.parametrize("size", [112, 224])
def test_landmarks_land_on_template(size):
    # Landmarks of a rotated, scaled face somewhere in the frame, marked by coloured dots.
    template = template_landmarks(112)
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = (template - 56) @ rotation.T * 1.7 + np.array([210, 140])
    aligned = align_face(dotted_image(points), points, size)
    assert aligned.shape == (size, size, 3)
    expected = template_landmarks(size)
    for color, target in zip(DOT_COLORS, expected, strict=True):
        mask = np.all(np.abs(aligned.astype(int) - color) < 60, axis=2)
        assert mask.any()
        ys, xs = np.nonzero(mask)
        assert np.hypot(xs.mean() - target[0], ys.mean() - target[1]) < 1.5 * size / 112


def test_retinaface_finds_the_astronaut_with_landmarks():
    detector = create_detector("retinaface_mobilenet", score_threshold=0.8)
    image = data.astronaut()
    (faces,) = detector.detect(image[None])
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.95
    assert 150 < face.box[0] < 200 and 250 < face.box[2] < 300
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert left_eye[0] < nose[0] < right_eye[0]
    assert left_eye[1] < nose[1] < mouth_left[1]
    # Downscaled detection maps back to the original frame coordinates.
    small = create_detector("retinaface_mobilenet", score_threshold=0.8, input_size=256)
    (faces_small,) = small.detect(image[None])
    assert np.abs(faces_small[0].landmarks - face.landmarks).max() < 8  # half resolution: a few pixels


def test_retinaface_finds_no_face_in_a_blank_frame():
    detector = create_detector("retinaface_mobilenet")
    assert detector.detect(np.full((1, 240, 320, 3), 128, np.uint8)) == [[]]


def test_insightface_detector_needs_an_existing_model_file(tmp_path):
    with pytest.raises(ModelLoadError, match="det_10g.onnx"):
        create_detector("insightface_scrfd", model_path=str(tmp_path / "buffalo_l" / "det_10g.onnx"))
    with pytest.raises(ModelLoadError, match="unknown face detector 'mtcnn'"):
        create_detector("mtcnn")


def face_at(x, score=0.9):
    return Detection(np.array([x - 10, 0, x + 10, 20], np.float32), np.zeros((5, 2), np.float32), score)


def test_person_picker_keeps_left_and_right():
    picker = PersonPicker(["left", "right"], frame_width=400)
    chosen = picker.pick([face_at(300, 0.99), face_at(100, 0.95)])
    assert chosen["left"].center_x == 100 and chosen["right"].center_x == 300
    # One face only: it belongs to the person last seen nearer to it.
    chosen = picker.pick([face_at(230)])
    assert chosen["left"] is None and chosen["right"].center_x == 230
    chosen = picker.pick([face_at(120)])
    assert chosen["left"].center_x == 120 and chosen["right"] is None
    picker = PersonPicker(["single"], frame_width=400)
    assert picker.pick([face_at(50, 0.99), face_at(300, 0.5)])["single"].center_x == 50
    assert picker.pick([])["single"] is None


def test_a_video_annotated_left_only_keeps_its_one_person_anywhere_in_the_frame():
    picker = PersonPicker(["left"], frame_width=400)
    kept = [picker.pick([face_at(x)])["left"] for x in range(40, 380, 20)]
    assert all(face is not None for face in kept)
    assert picker.pick([])["left"] is None  # out of view for a while
    assert picker.pick([face_at(350)])["left"].center_x == 350  # back, in the right half


def test_two_people_who_cross_keep_their_names():
    picker = PersonPicker(["left", "right"], frame_width=400)
    for step in range(11):  # the left person walks from x=100 to x=300, the other the opposite way
        a, b = 100 + 20 * step, 300 - 20 * step + 3
        chosen = picker.pick([face_at(b, 0.99), face_at(a, 0.95)])
        assert chosen["left"].center_x == a and chosen["right"].center_x == b, step


def test_an_unannotated_second_person_never_takes_the_annotated_persons_place():
    picker = PersonPicker(["left"], frame_width=400)
    assert picker.pick([face_at(100), face_at(300)])["left"].center_x == 100
    # The annotated person turns away: the lone face is the other person's, who keeps to the right.
    assert picker.pick([face_at(290)])["left"] is None
    assert picker.pick([face_at(110)])["left"].center_x == 110


def test_the_template_is_insightfaces():
    from insightface.utils.face_align import arcface_dst

    from abawflow.stage_one.alignment import ARCFACE_TEMPLATE

    assert np.array_equal(ARCFACE_TEMPLATE, arcface_dst)


def real_face_landmarks():
    """The astronaut's detected landmarks, jittered as a detector's would be from frame to frame."""
    photograph = data.astronaut()
    (faces,) = create_detector("retinaface_mobilenet").detect(photograph[None])
    rng = np.random.default_rng(0)
    landmarks = faces[0].landmarks
    return photograph, np.stack([landmarks + rng.normal(0, 3, landmarks.shape) for _ in range(12)])


@pytest.mark.parametrize("size", [112, 128, 224])
def test_batched_alignment_equals_insightfaces_norm_crop(size):
    from insightface.utils.face_align import estimate_norm, norm_crop

    from abawflow.stage_one.alignment import align_faces, align_faces_on_device, similarity_transforms

    photograph, landmarks = real_face_landmarks()
    expected = np.stack([estimate_norm(points.astype(np.float32), size) for points in landmarks])
    assert np.abs(similarity_transforms(landmarks, size) - expected).max() < 1e-3
    reference = np.stack([norm_crop(photograph, points.astype(np.float32), size) for points in landmarks])
    frames = np.stack([photograph, photograph[::-1]])
    for crops in (
        align_faces(frames, [0] * len(landmarks), landmarks, size),
        align_faces_on_device(torch.from_numpy(frames), [0] * len(landmarks), landmarks, size, chunk=5).numpy(),
    ):
        difference = np.abs(crops.astype(int) - reference)
        assert difference.max() <= 1  # OpenCV's fixed-point bilinear weights round a few pixels the other way
        assert (difference > 0).mean() < 0.001


@pytest.mark.gpu
def test_alignment_on_the_gpu_equals_opencvs():
    from abawflow.stage_one.alignment import align_faces, align_faces_on_device

    # OpenCV's warp with these transforms is norm_crop's (above); a GPU node need not have insightface.
    photograph, landmarks = real_face_landmarks()
    reference = align_faces(photograph[None], [0] * len(landmarks), landmarks, 112)
    frames = torch.from_numpy(photograph[None]).cuda()
    crops = align_faces_on_device(frames, [0] * len(landmarks), landmarks, 112).cpu().numpy()
    difference = np.abs(crops.astype(int) - reference)
    assert difference.max() <= 1 and (difference > 0).mean() < 0.001

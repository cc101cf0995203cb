"""Face alignment with insightface's 5-point similarity transform, and picking the annotated person."""

import numpy as np


def align_face(frame, landmarks, size=112):
    """Warp ``frame`` so that the 5 landmarks land on insightface's ArcFace template scaled to ``size``."""
    from insightface.utils.face_align import norm_crop

    if size % 112 != 0 and size % 128 != 0:
        raise ValueError(f"aligned face size must be a multiple of 112 or 128, got {size}")
    return norm_crop(frame, np.asarray(landmarks, dtype=np.float32), image_size=size)


# insightface's ArcFace template (face_align.arcface_dst): where the eyes, nose and mouth corners land in a
# 112 x 112 crop. Kept here so that the batched alignment needs no insightface (tests compare the two).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def template_landmarks(size=112):
    """Where ``align_face`` puts the 5 landmarks in a ``size`` x ``size`` crop."""
    ratio = size / 112.0 if size % 112 == 0 else size / 128.0
    offset = 0.0 if size % 112 == 0 else 8.0 * ratio
    template = ARCFACE_TEMPLATE * ratio
    template[:, 0] += offset
    return template


def similarity_transforms(landmarks, size=112):
    """(faces, 5, 2) landmarks -> (faces, 2, 3) frame-to-crop similarity transforms, batched: Umeyama's
    least-squares estimate (1991, eq. 40-42), as scikit-image's SimilarityTransform that ``norm_crop`` uses."""
    source = np.asarray(landmarks, dtype=np.float64).reshape(-1, 5, 2)
    target = template_landmarks(size).astype(np.float64)
    source_mean, target_mean = source.mean(1, keepdims=True), target.mean(0)
    source_centred, target_centred = source - source_mean, target - target_mean
    covariance = np.einsum("pi,npj->nij", target_centred, source_centred) / 5
    signs = np.ones((len(source), 2))
    signs[np.linalg.det(covariance) < 0, 1] = -1
    u, singular, vt = np.linalg.svd(covariance)
    rotation = u @ (signs[:, :, None] * vt)
    scale = (singular * signs).sum(1) / source_centred.var(1).sum(1)
    linear = rotation * scale[:, None, None]
    offset = target_mean - np.einsum("nij,nj->ni", linear, source_mean[:, 0])
    return np.concatenate([linear, offset[:, :, None]], axis=2)


def align_faces(frames, frame_indices, landmarks, size=112):
    """Aligned crops of many faces at once: face k is cut from ``frames[frame_indices[k]]`` with its 5
    landmarks. OpenCV's bilinear warp, as ``align_face``; (faces, size, size, 3) uint8."""
    import cv2

    if len(frame_indices) == 0:
        return np.empty((0, size, size, 3), np.uint8)
    transforms = similarity_transforms(landmarks, size)
    crops = np.empty((len(transforms), size, size, 3), np.uint8)
    for k, (index, transform) in enumerate(zip(frame_indices, transforms, strict=True)):
        crops[k] = cv2.warpAffine(frames[index], transform, (size, size), borderValue=0.0)
    return crops


def align_faces_on_device(frames, frame_indices, landmarks, size=112, chunk=64):
    """``align_faces`` for frames already on a torch device, (frames, H, W, 3) uint8: one bilinear
    ``grid_sample`` per chunk of faces, so the frames never come back to the host; only the crops do.
    Equal to OpenCV's warp within its fixed-point rounding (tests/unit/stage_one/test_alignment.py)."""
    import torch
    import torch.nn.functional as F

    transforms = similarity_transforms(landmarks, size)
    inverse = np.linalg.inv(np.concatenate([transforms, np.tile([[[0.0, 0.0, 1.0]]], (len(transforms), 1, 1))], 1))
    height, width = frames.shape[1:3]
    # Each crop pixel's centre in frame pixels, then in grid_sample's [-1, 1] (pixel centres at (2i + 1) / n - 1).
    axis = torch.arange(size, dtype=torch.float64)
    v, u = torch.meshgrid(axis, axis, indexing="ij")
    pixels = torch.stack([u, v, torch.ones_like(u)], -1).reshape(-1, 3)
    source = torch.einsum("nij,pj->npi", torch.from_numpy(inverse[:, :2]), pixels)
    extent = torch.tensor([width, height], dtype=torch.float64)
    grid = ((2 * source + 1) / extent - 1).reshape(-1, size, size, 2).float().to(frames.device)
    indices = torch.as_tensor(np.asarray(frame_indices), device=frames.device)
    crops = []
    for start in range(0, len(transforms), chunk):
        images = frames[indices[start : start + chunk]].permute(0, 3, 1, 2).float()
        warped = F.grid_sample(images, grid[start : start + chunk], mode="bilinear", align_corners=False)
        crops.append(warped.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1))
    return torch.cat(crops) if crops else torch.empty((0, size, size, 3), dtype=torch.uint8, device=frames.device)


class PersonPicker:
    """Choose, frame by frame, the detection that belongs to each annotated person of one video.

    ``single``: the most confident face. ``left`` / ``right``: the two people are followed as tracks (each
    one's face centre, expected to move on by its last step), so that left and right are decided when both
    first appear, not per frame:
    two faces continue the two tracks in the pairing that moves them least (people who cross keep their
    names); a lone face continues the nearer track. A video where two faces were never seen together has
    one person, who is the annotated one wherever they stand (a video annotated ``_left`` only keeps its
    face in the right half); until both tracks exist, a lone face goes by the frame half it is in.
    """

    SIDES = ("left", "right")

    def __init__(self, persons, frame_width):
        self.persons = list(persons)
        self.frame_width = frame_width
        self.center = {}  # side -> its last face centre (x, y), for both sides even if one is annotated
        self.velocity = {}  # side -> that centre's last step
        self.seen_two = False

    def expected(self, side):
        """Where a side's face is expected next: moved on by its last step, so that people who cross are
        told apart by their motion."""
        (x, y), (dx, dy) = self.center[side], self.velocity[side]
        return (x + dx, y + dy)

    def _lone_face_owner(self, face):
        sides = [p for p in self.persons if p in self.SIDES]
        if not self.seen_two and len(sides) == 1:
            return sides[0]  # one person in the video so far: the annotated one
        if len(self.center) == 2:
            return min(self.center, key=lambda side: _distance(self.expected(side), _center(face)))
        if not self.seen_two and len(self.center) == 1:
            return next(iter(self.center))  # the one person seen so far, moved
        return "left" if face.center_x < self.frame_width / 2 else "right"

    def pick(self, detections):
        chosen = {person: None for person in self.persons}
        if not detections:
            return chosen
        if "single" in chosen:
            chosen["single"] = detections[0]
        if not any(p in self.SIDES for p in self.persons):
            return chosen
        top = detections[:2]
        if len(top) == 2:
            self.seen_two = True
            first, second = sorted(top, key=lambda d: d.center_x)
            if len(self.center) == 2:
                left, right = self.expected("left"), self.expected("right")
                kept = _distance(left, _center(first)) + _distance(right, _center(second))
                swapped = _distance(left, _center(second)) + _distance(right, _center(first))
                if swapped < kept:
                    first, second = second, first
            faces = {"left": first, "right": second}
        else:
            faces = {self._lone_face_owner(top[0]): top[0]}
        for side, face in faces.items():
            center = _center(face)
            last = self.center.get(side)
            self.velocity[side] = (center[0] - last[0], center[1] - last[1]) if last else (0.0, 0.0)
            self.center[side] = center
            if side in chosen:
                chosen[side] = face
        return chosen


def _center(detection):
    box = detection.box
    return (float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2)


def _distance(a, b):
    return ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5

"""Face alignment with insightface's 5-point similarity transform, and picking the annotated person."""

import numpy as np


def align_face(frame, landmarks, size=112):
    """Warp ``frame`` so that the 5 landmarks land on insightface's ArcFace template scaled to ``size``."""
    from insightface.utils.face_align import norm_crop

    if size % 112 != 0 and size % 128 != 0:
        raise ValueError(f"aligned face size must be a multiple of 112 or 128, got {size}")
    return norm_crop(frame, np.asarray(landmarks, dtype=np.float32), image_size=size)


def template_landmarks(size=112):
    """Where ``align_face`` puts the 5 landmarks in a ``size`` x ``size`` crop."""
    from insightface.utils.face_align import arcface_dst

    ratio = size / 112.0 if size % 112 == 0 else size / 128.0
    offset = 0.0 if size % 112 == 0 else 8.0 * ratio
    template = arcface_dst * ratio
    template[:, 0] += offset
    return template


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

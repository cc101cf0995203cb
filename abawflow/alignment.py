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
    """Choose, frame by frame, the detection that belongs to the annotated person.

    ``single``: the most confident face. ``left`` / ``right``: of the two most
    confident faces, the one further left / right in the frame; with one face,
    the person whose last seen face centre is nearer, else the frame half it is in.
    """

    def __init__(self, persons, frame_width):
        self.persons = list(persons)
        self.frame_width = frame_width
        self.last_center = {}

    def pick(self, detections):
        chosen = {person: None for person in self.persons}
        if not detections:
            return chosen
        if "single" in chosen:
            chosen["single"] = detections[0]
        sides = [p for p in self.persons if p in ("left", "right")]
        if sides:
            top = sorted(detections[:2], key=lambda d: d.center_x)
            if len(top) == 2:
                for person in sides:
                    chosen[person] = top[0] if person == "left" else top[1]
            else:
                face = top[0]
                known = {p: c for p, c in self.last_center.items() if p in ("left", "right")}
                if len(known) == 2:
                    owner = min(known, key=lambda p: abs(known[p] - face.center_x))
                else:
                    owner = "left" if face.center_x < self.frame_width / 2 else "right"
                if owner in chosen:
                    chosen[owner] = face
        for person, detection in chosen.items():
            if detection is not None:
                self.last_center[person] = detection.center_x
        return chosen

"""Embedded demo dataset in the exact Aff-Wild2 layout, with labels rendered into the faces.

The face is scikit-image's public-domain ``astronaut`` photograph (NASA). Each
label signal drives its own landmark-anchored deformation of that face:
displacements (brows, lids, lip corners, jaw) plus wrinkle-like oriented
textures or shading at a site of its own, so the labels can be read back from
the aligned face pixels and from nothing else. Signals follow smooth random
processes (VA), semi-Markov segments (expression) and thresholded smooth
processes (AUs). Heads move, scale and rotate; some stretches show no face. Each video has a sound
track: every person's voice follows their valence, arousal and open mouth (abawflow/datasets/demo/sound.py).
Like an Aff-Wild2 release, it ships ``cropped_aligned/<name>/<frame:05d>.jpg``: each visible face aligned
from its known landmarks (none where the face is hidden).
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.stats import norm

from abawflow.core.atomic import write_text
from abawflow.datasets.demo.sound import SAMPLE_RATE, add_sound_track, name_seed, voice
from abawflow.datasets.editions import EDITIONS
from abawflow.tasks.specs import ACTION_UNITS, EXPRESSIONS, TASKS

log = logging.getLogger(__name__)

# Sprite cut from the astronaut photograph and its 5 landmarks inside the sprite
# (measured once with the RetinaFace detector used by the face stage).
SPRITE_BOX = (140, 30, 310, 220)  # x1, y1, x2, y2
LEFT_EYE, RIGHT_EYE = np.array([64.0, 70.0]), np.array([107.0, 73.0])
NOSE, MOUTH_LEFT, MOUTH_RIGHT = np.array([83.0, 99.0]), np.array([62.0, 108.0]), np.array([104.0, 110.0])
EYE_DISTANCE = float(np.linalg.norm(RIGHT_EYE - LEFT_EYE))
EYES_CENTER = (LEFT_EYE + RIGHT_EYE) / 2
MOUTH_CENTER = (MOUTH_LEFT + MOUTH_RIGHT) / 2

DEMO_EDITION = 6  # the demo is laid out as the 6th ABAW's release (config.yaml: dataset.edition)
NAMES = EDITIONS[DEMO_EDITION]
CROPS_FOLDER = "cropped_aligned"  # organizer-style aligned crops, as Aff-Wild2 releases ship them


@dataclass
class Site:
    """One landmark-anchored deformation: a Gaussian bump of displacement and shading."""

    center: tuple
    radius: float  # in eye distances
    shift: tuple = (0.0, 0.0)  # displacement at the centre, in eye distances
    shade: float = 0.0  # grey levels added at the centre


def _p(anchor, dx=0.0, dy=0.0):
    return tuple(np.asarray(anchor) + np.array([dx, dy]) * EYE_DISTANCE)


def _pair(make):
    """A site on each side of the face: ``make(eye, outward)`` with outward = -1 on the left."""
    return [make(LEFT_EYE, -1.0), make(RIGHT_EYE, 1.0)]


def _corners(make):
    return [make(MOUTH_LEFT, -1.0), make(MOUTH_RIGHT, 1.0)]


# Signal name -> sites, each with a displacement and a patch of shading. Valence and
# arousal are split into their positive and negative halves so that each half has
# its own look. Every signal gets its own wrinkle texture (orientation and
# wavelength, see TEXTURES) so that signals stay distinguishable even for
# features that pool over the whole face.
SITES = {
    "valence+": _corners(lambda c, o: Site(_p(c, 0.1 * o, -0.25), 0.28, (0.05 * o, -0.2), 45.0)),
    "valence-": _corners(lambda c, o: Site(_p(c, 0, 0.15), 0.28, (0.0, 0.2), -45.0)),
    "arousal+": _pair(lambda e, o: Site(_p(e, 0, -0.45), 0.3, (0, -0.15), 45.0)),
    "arousal-": _pair(lambda e, o: Site(_p(e, 0, -0.1), 0.25, (0, 0.12), -45.0)),
    "Anger": [Site(_p(EYES_CENTER, 0, -0.35), 0.4, (0, 0.1), 75.0)],
    "Disgust": [Site(_p(NOSE, 0, -0.3), 0.35, (0, -0.1), 75.0)],
    "Fear": _pair(lambda e, o: Site(_p(e, 0, 0.2), 0.3, (0, 0.1), 70.0)),
    "Happiness": _pair(lambda e, o: Site(_p(e, 0.1 * o, 0.6), 0.35, (0.08 * o, -0.1), 70.0)),
    "Sadness": _pair(lambda e, o: Site(_p(e, 0.3 * o, 0.0), 0.3, (0, 0.12), 70.0)),
    "Surprise": [Site(_p(EYES_CENTER, 0, -0.85), 0.5, (0, -0.1), 75.0)],
    "Other": [Site(_p(MOUTH_CENTER, 0, 0.55), 0.4, (0, 0.05), 75.0)],
    "AU1": _pair(lambda e, o: Site(_p(EYES_CENTER, 0.22 * o, -0.45), 0.2, (0, -0.15), 40.0)),
    "AU2": _pair(lambda e, o: Site(_p(e, 0.35 * o, -0.45), 0.2, (0, -0.15), 40.0)),
    "AU4": _pair(lambda e, o: Site(_p(EYES_CENTER, 0.3 * o, -0.35), 0.2, (-0.06 * o, 0.12), -40.0)),
    "AU6": _pair(lambda e, o: Site(_p(e, 0.3 * o, 0.25), 0.2, (0, -0.1), 40.0)),
    "AU7": _pair(lambda e, o: Site(_p(e, 0, 0.08), 0.18, (0, -0.08), -40.0)),
    "AU10": [Site(_p(MOUTH_CENTER, 0, -0.2), 0.22, (0, -0.1), 40.0)],
    "AU12": _corners(lambda c, o: Site(_p(c, 0.1 * o, 0), 0.2, (0.15 * o, 0), 40.0)),
    "AU15": _corners(lambda c, o: Site(_p(c, 0, 0.2), 0.2, (0, 0.12), 40.0)),
    "AU23": [
        Site(_p(MOUTH_CENTER, 0, -0.08), 0.18, (0, 0.06), -40.0),
        Site(_p(MOUTH_CENTER, 0, 0.1), 0.18, (0, -0.06), -40.0),
    ],
    "AU24": [Site(_p(MOUTH_CENTER, 0, 0.4), 0.22, (0, -0.1), 40.0)],
    "AU25": [Site(_p(MOUTH_CENTER, 0, 0.03), 0.15, (0, 0), -70.0)],
    "AU26": [Site(_p(MOUTH_CENTER, 0, 0.7), 0.35, (0, 0.15), -40.0)],
}
SIGNALS = tuple(SITES)
# FACS-style prototypes (after Ekman & Friesen), restricted to the 12 annotated AUs.
EXPRESSION_ACTION_UNITS = {
    "Anger": ("AU4", "AU7", "AU23", "AU24"),
    "Disgust": ("AU10", "AU15"),
    "Fear": ("AU1", "AU2", "AU4", "AU7", "AU25"),
    "Happiness": ("AU6", "AU12", "AU25"),
    "Sadness": ("AU1", "AU4", "AU15"),
    "Surprise": ("AU1", "AU2", "AU25", "AU26"),
}
# One distinct texture (orientation in degrees, wavelength in sprite pixels) per signal.
# Expressions get the coarsest stripes: video compression blurs fine ones most.
TEXTURES = {
    **{name: (22.5 * i, 8.0) for i, name in enumerate(EXPRESSIONS[1:])},
    **{name: (22.5 * i, 5.5) for i, name in enumerate(ACTION_UNITS[:8])},
    **{
        name: (22.5 * i, 4.0)
        for i, name in enumerate(ACTION_UNITS[8:] + ("valence+", "valence-", "arousal+", "arousal-"))
    },
}


class FaceRenderer:
    """Renders the deformed sprite for one frame's label signals."""

    def __init__(self):
        from skimage import data

        x1, y1, x2, y2 = SPRITE_BOX
        self.sprite = data.astronaut()[y1:y2, x1:x2].astype(np.float32)
        height, width = self.sprite.shape[:2]
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        self.grid = (xs, ys)
        # For each signal: stacked (dx, dy, shade) maps at unit intensity.
        self.maps = {}
        for signal in SIGNALS:
            total = np.zeros((3, height, width), np.float32)
            for site in SITES[signal]:
                radius = site.radius * EYE_DISTANCE
                bump = np.exp(-((xs - site.center[0]) ** 2 + (ys - site.center[1]) ** 2) / (2 * radius**2))
                total[0] += bump * site.shift[0] * EYE_DISTANCE
                total[1] += bump * site.shift[1] * EYE_DISTANCE
                angle, wavelength = np.deg2rad(TEXTURES[signal][0]), TEXTURES[signal][1]
                stripes = np.cos(2 * np.pi * (xs * np.cos(angle) + ys * np.sin(angle)) / wavelength)
                total[2] += bump * site.shade * (0.5 + 0.5 * stripes)
            self.maps[signal] = total
        # Soft elliptical head mask.
        center, axes = (width / 2, height / 2 + 5), (width * 0.42, height * 0.48)
        ellipse = ((xs - center[0]) / axes[0]) ** 2 + ((ys - center[1]) / axes[1]) ** 2
        self.alpha = np.clip((1.0 - ellipse) / 0.15, 0, 1)[..., None]

    def render(self, intensities, tint):
        field = sum(self.maps[name] * np.float32(value) for name, value in intensities.items() if value)
        if isinstance(field, int):
            image = self.sprite.copy()
        else:
            xs, ys = self.grid
            image = cv2.remap(
                self.sprite, xs - field[0], ys - field[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
            )
            image += field[2][..., None]
        return np.clip(image * tint, 0, 255)


def smooth_noise(rng, length, sigma):
    values = gaussian_filter1d(rng.standard_normal(length + 6 * int(sigma)), sigma)[3 * int(sigma) :][:length]
    return values / (values.std() + 1e-8)


def make_labels(rng, frames):
    """Per-frame label signals of one person."""
    valence = np.clip(0.95 * np.tanh(1.3 * smooth_noise(rng, frames, 20)), -1, 1)
    arousal = np.clip(0.95 * np.tanh(1.3 * smooth_noise(rng, frames, 28)), -1, 1)
    expression = np.empty(frames, np.int64)
    start = 0
    probabilities = np.array([0.23] + [0.11] * 7)
    while start < frames:
        length = int(rng.integers(10, 35))
        expression[start : start + length] = rng.choice(8, p=probabilities / probabilities.sum())
        start += length
    action_units = np.stack(
        [smooth_noise(rng, frames, 10) > norm.ppf(1 - rng.uniform(0.05, 0.2)) for _ in ACTION_UNITS], axis=1
    )
    # Expressions also switch on their prototypical action units, as faces do.
    for index, name in enumerate(EXPRESSIONS):
        columns = [ACTION_UNITS.index(unit) for unit in EXPRESSION_ACTION_UNITS.get(name, ())]
        action_units[np.ix_(expression == index, columns)] = True
    action_units = action_units.astype(np.int64)
    return {"valence": valence, "arousal": arousal, "expression": expression, "au": action_units}


def frame_intensities(labels, t):
    intensities = {}
    for name in ("valence", "arousal"):
        intensities[f"{name}+"] = max(float(labels[name][t]), 0.0)
        intensities[f"{name}-"] = max(-float(labels[name][t]), 0.0)
    if labels["expression"][t] > 0:
        intensities[EXPRESSIONS[labels["expression"][t]]] = 1.0
    for k, name in enumerate(ACTION_UNITS):
        intensities[name] = float(labels["au"][t, k])
    return intensities


def smooth_path(rng, frames, sigma, low, high):
    return low + (high - low) * (np.tanh(smooth_noise(rng, frames, sigma)) + 1) / 2


def background(rng, height, width):
    small = rng.uniform(40, 200, size=(6, 8, 3)).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def paste(frame, image, alpha, center, scale, angle):
    """Blend the sprite into the frame with a similarity transform."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    matrix[:, 2] += np.asarray(center) - np.array([width / 2, height / 2])
    size = (frame.shape[1], frame.shape[0])
    warped = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR)
    weight = cv2.warpAffine(alpha, matrix, size, flags=cv2.INTER_LINEAR)[..., None]
    return frame * (1 - weight) + warped * weight


@dataclass
class DemoVideo:
    name: str
    folder: str
    suffix: str
    width: int
    height: int
    persons: tuple  # ("single",) or ("left", "right")


def plan_videos(count):
    sizes = [(320, 240), (384, 216)]
    folders = ["batch1", "batch2", "new_vids"]
    plans = []
    for k in range(count):
        width, height = sizes[k % 2]
        two_person = k == 1
        if two_person:
            width, height = 448, 252
        name = f"{k + 1}-30-{width}x{height}" if k % 3 else f"video{k + 1}"
        suffix = ".avi" if k == 2 else ".mp4"
        plans.append(
            DemoVideo(name, folders[k % 3], suffix, width, height, ("left", "right") if two_person else ("single",))
        )
    return plans


def subject_name(plan, person):
    return plan.name if person == "single" else f"{plan.name}_{person}"


def sprite_landmarks():
    """The sprite's five landmarks in ArcFace order: left eye, right eye, nose, mouth left, mouth right."""
    return np.stack([LEFT_EYE, RIGHT_EYE, NOSE, MOUTH_LEFT, MOUTH_RIGHT]).astype(np.float32)


def write_crop(path, crop_rgb):
    """An organizer-style crop file, ``<crops folder>/<name>/<frame:05d>.jpg``."""
    from abawflow.stage_one.face_table import encode_jpeg

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_jpeg(crop_rgb, 95))


def sprite_landmarks_in_frame(flip, sprite_width, sprite_height, center, scale, angle):
    """Where ``paste`` puts the sprite's five landmarks in the frame, in ArcFace order (left eye, right eye,
    nose, mouth left, mouth right as seen in the image)."""
    points = sprite_landmarks().astype(np.float64)
    if flip:  # mirrored: the sprite's left eye and mouth corner are now on the image's right
        points[:, 0] = sprite_width - 1 - points[:, 0]
        points = points[[1, 0, 2, 4, 3]]
    matrix = cv2.getRotationMatrix2D((sprite_width / 2, sprite_height / 2), angle, scale)
    matrix[:, 2] += np.asarray(center) - np.array([sprite_width / 2, sprite_height / 2])
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def render_video(plan, frames, rng, renderer, path, crops_root=None, crop_size=112):
    """Render one video and return its persons' labels. With ``crops_root``, also write organizer-style
    aligned crops, ``<crops_root>/<subject>/<frame:05d>.jpg``, of every frame where a face is visible."""
    labels = {person: make_labels(rng, frames) for person in plan.persons}
    face_scale = plan.height / 190 * (0.85 if len(plan.persons) == 1 else 0.6)
    paths = {}
    for index, person in enumerate(plan.persons):
        base_x = plan.width * (0.5 if person == "single" else 0.27 + 0.46 * index)
        paths[person] = {
            "x": base_x + smooth_path(rng, frames, 30, -0.06, 0.06) * plan.width,
            "y": plan.height * (0.5 + smooth_path(rng, frames, 30, -0.05, 0.05)),
            "scale": face_scale * smooth_path(rng, frames, 40, 0.8, 1.1),
            "angle": smooth_path(rng, frames, 35, -18, 18),
            "tint": rng.uniform(0.9, 1.1, size=3).astype(np.float32),
            "flip": bool(rng.integers(2)),
        }
        # One stretch where this person's face is not visible (turned away / out of view).
        start = int(rng.integers(frames // 4, frames // 2))
        paths[person]["hidden"] = (start, start + int(rng.integers(12, 25)))
    scene = background(rng, plan.height, plan.width)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if plan.suffix == ".avi" else "mp4v"))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.partial{plan.suffix}")  # OpenCV picks the container by suffix
    writer = cv2.VideoWriter(str(temporary), fourcc, 30.0, (plan.width, plan.height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {plan.suffix} video to {temporary}")
    try:
        landmarks = {}  # frame -> person -> its five landmarks, where visible
        for t in range(frames):
            frame = scene.copy()
            visible = {}
            for person in plan.persons:
                motion = paths[person]
                if motion["hidden"][0] <= t < motion["hidden"][1]:
                    continue
                face = renderer.render(frame_intensities(labels[person], t), motion["tint"])
                alpha = renderer.alpha
                if motion["flip"]:
                    face, alpha = face[:, ::-1], alpha[:, ::-1]
                position = (motion["x"][t], motion["y"][t])
                frame = paste(
                    frame,
                    np.ascontiguousarray(face),
                    np.ascontiguousarray(alpha),
                    position,
                    motion["scale"][t],
                    motion["angle"][t],
                )
                visible[person] = sprite_landmarks_in_frame(
                    motion["flip"], face.shape[1], face.shape[0], position, motion["scale"][t], motion["angle"][t]
                )
            frame += rng.normal(0, 3, size=frame.shape).astype(np.float32)
            writer.write(np.clip(frame, 0, 255).astype(np.uint8)[..., ::-1])
            landmarks[t] = visible
        writer.release()
        add_sound_track(temporary, demo_voices(plan, labels), SAMPLE_RATE, path)
    finally:
        writer.release()
        temporary.unlink(missing_ok=True)
    if crops_root is not None:
        write_crops(plan, path, landmarks, crops_root, crop_size)
    return labels


def demo_voices(plan, labels):
    """The video's sound: each person's voice, pitch following valence, loudness arousal, brightness an open
    mouth (AU25); it goes on where the face is hidden. Seeded by the video's name, not the shared generator."""
    tracks = []
    for index, person in enumerate(plan.persons):
        signals = labels[person]
        pitch = 140.0 + 60.0 * index + 50.0 * signals["valence"]
        loudness = 0.35 + 0.3 * (signals["arousal"] + 1.0) / 2.0
        brightness = 0.2 + 0.6 * signals["au"][:, ACTION_UNITS.index("AU25")]
        tracks.append(voice(pitch, loudness, brightness, 30.0, seed=name_seed(f"{plan.name}/{person}")))
    return np.clip(sum(tracks), -1.0, 1.0).astype(np.float32)


def write_crops(plan, path, landmarks, crops_root, crop_size):
    """The organizers align the faces of the decoded video, compression and all: so do we."""
    from abawflow.stage_one.alignment import align_face
    from abawflow.stage_one.video import iter_frame_batches

    for first, batch in iter_frame_batches(path, 64):
        for offset, image in enumerate(batch):
            for person, points in landmarks.get(first - 1 + offset, {}).items():
                crop_path = Path(crops_root) / subject_name(plan, person) / f"{first + offset:05d}.jpg"
                write_crop(crop_path, align_face(image, points, crop_size))


def annotation_text(task, labels, frames, unannotated, short_by=0):
    spec = TASKS[task]
    lines = [",".join(spec.header)]
    for t in range(frames - short_by):
        if unannotated[0] <= t < unannotated[1]:
            lines.append(",".join(["-5" if task == "va" else "-1"] * len(spec.label_columns)))
        elif task == "va":
            lines.append(f"{labels['valence'][t]:.3f},{labels['arousal'][t]:.3f}")
        elif task == "expr":
            lines.append(str(labels["expression"][t]))
        else:
            lines.append(",".join(str(v) for v in labels["au"][t]))
    return "\n".join(lines) + "\n"


def make_demo_dataset(root, seed=0, videos=12, frames_per_video=300):
    """Write the demo dataset under ``root``; deterministic for ``seed``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    renderer = FaceRenderer()
    subjects = []
    for plan in plan_videos(videos):
        frames = int(frames_per_video * rng.uniform(0.8, 1.2))
        path = root / "videos" / plan.folder / f"{plan.name}{plan.suffix}"
        labels = render_video(plan, frames, rng, renderer, path, root / CROPS_FOLDER)
        for person in plan.persons:
            subjects.append((subject_name(plan, person), frames, labels[person]))
        log.info(
            "wrote %s (%d frames, %dx%d, persons: %s)", path, frames, plan.width, plan.height, ", ".join(plan.persons)
        )
    # Splits per task: ~1/6 test, ~1/4 validation, one video left out (not annotated for the task), the rest train.
    for task_index, task in enumerate(("va", "expr", "au")):
        order = rng.permutation(len(subjects))
        count = len(subjects)
        tests, validations = max(1, count // 6), max(1, count // 4)
        left_out = 1 if count >= 8 else 0
        test, validation = order[:tests], order[tests : tests + validations]
        train = order[tests + validations + left_out :]
        folder = root / NAMES["annotation_folder"] / NAMES["challenge_folders"][task]
        for split_folder, members in (("Train_Set", train), ("Validation_Set", validation)):
            for rank, member in enumerate(sorted(members)):
                subject, frames, labels = subjects[member]
                start = int(rng.integers(0, frames - 10))
                unannotated = (start, start + int(rng.integers(3, 10)))
                # One training file is a few lines shorter than its video, as happens in Aff-Wild2.
                short_by = 3 if (task_index == 0 and split_folder == "Train_Set" and rank == 0) else 0
                write_text(
                    folder / split_folder / f"{subject}.txt",
                    annotation_text(task, labels, frames, unannotated, short_by),
                )
        names = "\n".join(subjects[m][0] for m in sorted(test)) + "\n"
        write_text(root / NAMES["test_lists"][task], names)
    return root

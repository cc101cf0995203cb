"""Embedded demo of the ERI challenge in the Hume-Reaction layout (ABAW5): ``<split>/mp4/<id>.mp4`` (the face),
``<split>/wav/<id>.wav`` (the voice) and one ``data_info.csv``, splits train / val / test.

Each sample's seven reaction intensities are drawn on the 1..100 scale and divided by their maximum, as the
release does. Four are carried by the face (Amusement, Disgust, Fear and Surprise drive the demo face's
happiness, disgust, fear and surprise deformations, abawflow/datasets/demo/aff_wild2.py) and three by the voice
(Adoration its pitch, Anxiety a tremolo, Empathic-Pain a quieter voice); Amusement also brightens the voice.
So vision alone, audio alone and both differ measurably.
"""

import csv
import io
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from abawflow.core.atomic import write_text
from abawflow.datasets.demo.aff_wild2 import FaceRenderer, background, paste, smooth_path
from abawflow.datasets.demo.sound import SAMPLE_RATE, name_seed, voice, write_wav
from abawflow.tasks.specs import EMOTIONS

log = logging.getLogger(__name__)

FPS = 30.0
SPLIT_FOLDERS = {"Train": "train", "Val": "val", "Test": "test"}
FACE_EMOTIONS = {"Amusement": "Happiness", "Disgust": "Disgust", "Fear": "Fear", "Surprise": "Surprise"}


def draw_intensities(rng):
    """Seven intensities: raw self-reports 1..100, each sample divided by its own maximum."""
    raw = np.clip(rng.gamma(1.5, 20.0, size=len(EMOTIONS)), 1.0, 100.0)
    return raw / raw.max()


def face_signals(intensities):
    """The demo face's deformations (abawflow/datasets/demo/aff_wild2.py) of a sample's intensities."""
    labels = dict(zip(EMOTIONS, intensities, strict=True))
    return {face: labels[emotion] for emotion, face in FACE_EMOTIONS.items()}


def render_sample(path, signals, frames, rng, renderer, width=256, height=192):
    """Write one sample's video: the demo face, its deformations (face signal -> intensity) rising and falling
    over the clip."""
    envelope = 0.4 + 0.6 * np.sin(np.pi * (np.arange(frames) + 0.5) / frames)
    motion = {
        "x": width * (0.5 + smooth_path(rng, frames, 20, -0.05, 0.05)),
        "y": height * (0.5 + smooth_path(rng, frames, 20, -0.04, 0.04)),
        "scale": height / 190 * 0.8 * smooth_path(rng, frames, 30, 0.9, 1.05),
        "angle": smooth_path(rng, frames, 25, -12, 12),
    }
    tint = rng.uniform(0.9, 1.1, size=3).astype(np.float32)
    scene = background(rng, height, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write mp4 video to {temporary}")
    try:
        for t in range(frames):
            face = renderer.render({name: 1.6 * value * envelope[t] for name, value in signals.items()}, tint)
            frame = paste(
                scene.copy(),
                np.ascontiguousarray(face),
                renderer.alpha,
                (motion["x"][t], motion["y"][t]),
                motion["scale"][t],
                motion["angle"][t],
            )
            frame += rng.normal(0, 3, size=frame.shape).astype(np.float32)
            writer.write(np.clip(frame, 0, 255).astype(np.uint8)[..., ::-1])
        writer.release()
        os.replace(temporary, path)
    finally:
        writer.release()
        temporary.unlink(missing_ok=True)


def sample_voice(sample_id, intensities, frames):
    labels = dict(zip(EMOTIONS, intensities, strict=True))
    constant = np.ones(frames)
    return voice(
        pitch=(120.0 + 120.0 * labels["Adoration"]) * constant,
        loudness=(1.0 - 0.7 * labels["Empathic-Pain"]) * constant,
        brightness=(0.15 + 0.6 * labels["Amusement"]) * constant,
        tremolo=0.9 * labels["Anxiety"] * constant,
        fps=FPS,
        seed=name_seed(sample_id),
    )


def make_demo_hume_reaction(root, seed=0, samples=48, frames=60, splits=(0.6, 0.2)):
    """Write the demo under ``root``; deterministic for ``seed``. ``splits``: the train and val shares."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    renderer = FaceRenderer()
    train, validation = int(round(samples * splits[0])), int(round(samples * splits[1]))
    buffer = io.StringIO()
    table = csv.writer(buffer, lineterminator="\n")
    table.writerow(["File_ID", "Split", *EMOTIONS, "Age", "Country"])
    for index in range(samples):
        split = "Train" if index < train else "Val" if index < train + validation else "Test"
        sample_id = f"{index:05d}"
        intensities = draw_intensities(rng)
        length = int(frames * rng.uniform(0.8, 1.2))
        folder = root / SPLIT_FOLDERS[split]
        render_sample(folder / "mp4" / f"{sample_id}.mp4", face_signals(intensities), length, rng, renderer)
        write_wav(folder / "wav" / f"{sample_id}.wav", sample_voice(sample_id, intensities, length), SAMPLE_RATE)
        cells = [""] * len(EMOTIONS) if split == "Test" else [f"{value:.4f}" for value in intensities]
        table.writerow([f"[{sample_id}]", split, *cells, int(rng.integers(18, 70)), rng.choice(["USA", "SA"])])
    write_text(root / "data_info.csv", buffer.getvalue())
    log.info("wrote %d Hume-Reaction demo samples (%d train, %d val) under %s", samples, train, validation, root)
    return root

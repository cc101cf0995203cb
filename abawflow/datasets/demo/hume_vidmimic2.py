"""Embedded demo of the EMI challenge in the Hume-Vidmimic2 layout: ``train_split.csv`` and ``valid_split.csv``,
``raw/<id>.mp4`` (the face) and ``audio/<id>.mp3`` (the voice), the test videos in ``test/raw/<id>.mp4`` with
their voice in the video's own sound track, and a Whisper-style ``transcripts/<id>.yml`` per video (teams
transcribe the sound themselves; the demo writes what such a transcription would give).

Each video's six intensities are mostly 0 and otherwise a fraction (1/3, 1/2, 2/3 or 1), as the release's
are. Three are carried by the face (Amusement its happiness, Empathic Pain its sadness, Excitement its surprise
deformation) and three by the voice (Admiration its pitch, Determination its loudness, Joy its brightness), so
vision alone and audio alone each miss half of the labels and their fusion can read all six. The words
carry Admiration, Amusement and Determination on their own draws (a phrase said with probability 0.7 when
the emotion is shown), so text overlaps both.
"""

import csv
import io
import logging
from pathlib import Path

import numpy as np
import yaml

from abawflow.core.atomic import write_text
from abawflow.datasets.demo.aff_wild2 import FaceRenderer
from abawflow.datasets.demo.hume_reaction import FPS, render_sample
from abawflow.datasets.demo.sound import SAMPLE_RATE, add_sound_track, name_seed, voice, write_mp3
from abawflow.stage_one.audio_stage import read_audio
from abawflow.tasks.specs import MIMICRY_EMOTIONS

log = logging.getLogger(__name__)

FACE_EMOTIONS = {"Amusement": "Happiness", "Empathic Pain": "Sadness", "Excitement": "Surprise"}
LEVELS = (1 / 3, 1 / 2, 2 / 3, 1.0)
PHRASES = {
    "Admiration": "wow, that is amazing",
    "Amusement": "haha, that is so funny",
    "Determination": "I can do this",
}
FILLER = ("okay", "so this is me", "let me try", "like in the video")


def transcript(rng, labels, seconds):
    """Whisper's output for a video: filler words and, for each shown emotion of PHRASES, its phrase with
    probability 0.7, as chunks spread over the video's length."""
    said = [str(rng.choice(FILLER))]
    said += [phrase for emotion, phrase in PHRASES.items() if labels[emotion] > 0 and rng.random() < 0.7]
    step = seconds / len(said)
    chunks = [
        {"text": f" {text}", "timestamp": [round(k * step, 2), round((k + 1) * step, 2)]} for k, text in enumerate(said)
    ]
    return {"text": " " + ", ".join(said), "chunks": chunks}


def draw_intensities(rng):
    """Six intensities, each 0 with probability 0.5 and otherwise one of the release's fractions."""
    shown = rng.random(len(MIMICRY_EMOTIONS)) < 0.5
    return np.where(shown, rng.choice(LEVELS, size=len(MIMICRY_EMOTIONS)), 0.0)


def video_voice(video, intensities, frames):
    labels = dict(zip(MIMICRY_EMOTIONS, intensities, strict=True))
    constant = np.ones(frames)
    return voice(
        pitch=(120.0 + 120.0 * labels["Admiration"]) * constant,
        loudness=(0.3 + 0.7 * labels["Determination"]) * constant,
        brightness=(0.15 + 0.6 * labels["Joy"]) * constant,
        fps=FPS,
        seed=name_seed(video),
    )


def make_demo_hume_vidmimic2(root, seed=0, videos=40, frames=60, splits=(0.6, 0.2)):
    """Write the demo under ``root``; deterministic for ``seed``. ``splits``: the train and validation shares."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    renderer = FaceRenderer()
    train, validation = int(round(videos * splits[0])), int(round(videos * splits[1]))
    tables = {"train": io.StringIO(), "validation": io.StringIO()}
    writers = {split: csv.writer(buffer, lineterminator="\n") for split, buffer in tables.items()}
    for writer in writers.values():
        writer.writerow(["Filename", *MIMICRY_EMOTIONS])
    for index in range(videos):
        split = "train" if index < train else "validation" if index < train + validation else "test"
        video = f"{index:05d}"
        intensities = draw_intensities(rng)
        length = int(frames * rng.uniform(0.8, 1.2))
        labels = dict(zip(MIMICRY_EMOTIONS, intensities, strict=True))
        signals = {face: labels[emotion] for emotion, face in FACE_EMOTIONS.items()}
        sound = video_voice(video, intensities, length)
        said = yaml.safe_dump(transcript(rng, labels, length / FPS), sort_keys=False)
        write_text(root / "transcripts" / f"{video}.yml", said)
        if split == "test":  # the test sound is the video's own track
            # Through MP3 first, as the labelled videos' sound: MP3 drops the upper band that AAC keeps, which
            # would tell the test videos apart by codec alone.
            recorded = root / "test" / "raw" / f".{video}.recorded.mp3"
            write_mp3(recorded, sound)
            silent = recorded.with_suffix(".mp4")
            render_sample(silent, signals, length, rng, renderer)
            add_sound_track(
                silent, read_audio(recorded, SAMPLE_RATE), SAMPLE_RATE, root / "test" / "raw" / f"{video}.mp4"
            )
            silent.unlink()
            recorded.unlink()
            continue
        render_sample(root / "raw" / f"{video}.mp4", signals, length, rng, renderer)
        write_mp3(root / "audio" / f"{video}.mp3", sound)
        writers[split].writerow([video, *(f"{value:.4f}" for value in intensities)])
    write_text(root / "train_split.csv", tables["train"].getvalue())
    write_text(root / "valid_split.csv", tables["validation"].getvalue())
    log.info("wrote %d Hume-Vidmimic2 demo videos (%d train, %d validation) under %s", videos, train, validation, root)
    return root

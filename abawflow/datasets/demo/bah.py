"""Embedded demo of the A/H challenge in the BAH layout: ``Videos/<participant>/Visite_1/<name>_Video.mp4`` (the
face, the voice in the video's own track; the last participant's names hold a space), ``split/{train,val,test}.txt``
(``video_path,label,transcript``, the transcripts holding commas, the test labels 0) and Whisper-style
transcripts ``transcription/<video path>/<stem>.yml``. Splits are participant-disjoint.

A video is ambivalent or hesitant (label 1) or not, and each modality shows it on its own draw: the face
(a fearful frown), the voice (a tremolo) and the words (hedges such as "maybe" and "I guess"), each with
probability 0.75 for a label-1 video and 0.2 for a label-0 one. So each modality alone misses part of the
labels and their fusion reads more of them.
"""

import io
import logging
from pathlib import Path

import numpy as np
import yaml

from abawflow.core.atomic import write_text
from abawflow.datasets.demo.aff_wild2 import FaceRenderer
from abawflow.datasets.demo.hume_reaction import FPS, render_sample
from abawflow.datasets.demo.sound import SAMPLE_RATE, add_sound_track, name_seed, voice

log = logging.getLogger(__name__)

SHOWN = {1: 0.75, 0: 0.2}  # the chance that a modality shows A/H, by label
HEDGES = ("um, maybe", "I guess", "well, I do not know", "sort of, kind of", "I am not sure, perhaps")
PLAIN = ("yes", "I like it", "it is good", "definitely", "that is right, of course")
FILLER = ("the question", "about my week", "at work", "with my family", "this morning")


def video_name(participant, question, spaced=False):
    time = "10 00" if spaced else "10-00"  # the release has names with spaces
    return f"Videos/P{participant:02d}/Visite_1/P{participant:02d}_Question_{question}_2024-03-01_{time}_Video.mp4"


def transcript(rng, hedging, seconds):
    """Whisper's output for a video: chunks of words with [start, end] times within its length."""
    words = [rng.choice(FILLER), rng.choice(HEDGES if hedging else PLAIN), rng.choice(FILLER)]
    step = seconds / len(words)
    chunks = [
        {"text": f" {text}", "timestamp": [round(k * step, 2), round((k + 1) * step, 2)]}
        for k, text in enumerate(words)
    ]
    return {"text": " " + ", ".join(words), "chunks": chunks}


def make_demo_bah(root, seed=0, participants=15, questions=4, frames=60, splits=(0.6, 0.2)):
    """Write the demo under ``root``; deterministic for ``seed``. ``splits``: the train and validation shares
    of the participants."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    renderer = FaceRenderer()
    train, validation = int(round(participants * splits[0])), int(round(participants * splits[1]))
    lists = {"train": io.StringIO(), "val": io.StringIO(), "test": io.StringIO()}
    for participant in range(1, participants + 1):
        split = "train" if participant <= train else "val" if participant <= train + validation else "test"
        for question in range(1, questions + 1):
            name = video_name(participant, question, spaced=participant == participants)
            label = int(rng.random() < 0.5)
            face, sound, words = (bool(rng.random() < SHOWN[label]) for _ in range(3))
            length = int(frames * rng.uniform(0.8, 1.2))
            constant = np.ones(length)
            samples = voice(
                pitch=150.0 * constant,
                loudness=0.8 * constant,
                brightness=0.4 * constant,
                tremolo=(0.9 if sound else 0.0) * constant,
                fps=FPS,
                seed=name_seed(name),
            )
            path = root / name
            silent = path.with_name(f".{path.stem}.silent.mp4")
            render_sample(silent, {"Fear": 0.8 if face else 0.0}, length, rng, renderer)
            add_sound_track(silent, samples, SAMPLE_RATE, path)
            silent.unlink()
            said = transcript(rng, words, length / FPS)
            stem = Path(name).stem
            write_text(root / "transcription" / name / f"{stem}.yml", yaml.safe_dump(said, sort_keys=False))
            lists[split].write(f"{name},{0 if split == 'test' else label},{said['text'].strip()}\n")
    for split, buffer in lists.items():
        write_text(root / "split" / f"{split}.txt", buffer.getvalue())
    log.info("wrote %d BAH demo videos of %d participants under %s", participants * questions, participants, root)
    return root

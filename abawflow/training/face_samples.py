"""Frames sampled from the face tables for single-frame training (fine-tuning, MAE pre-training)."""

import polars as pl
import pyarrow.parquet as pq

from abawflow.core.parquet_streaming import stream_batches
from abawflow.stage_one.face_table import decode_jpeg

CROP_BATCH_ROWS = 4096  # face table rows whose crops are read at a time


def sample_face_crops(face_tables, subjects, every=1, labels=None):
    """(RGB crops, rows) of every ``every``-th frame with a face of ``subjects`` (neighbouring frames are
    near-duplicates). With ``labels``, only annotated frames count, and the rows carry their labels."""
    jpegs, rows = sample_face_jpegs(face_tables, subjects, every, labels, with_rows=True)
    return [decode_jpeg(data) for data in jpegs], rows


def sample_face_jpegs(face_tables, subjects, every=1, labels=None, with_rows=False):
    """``sample_face_crops``'s crops as their JPEG bytes (a tenth of the memory, decoded when used); with
    ``with_rows``, (bytes, rows). Each table is read twice, its small columns to choose the frames, then its
    crops a batch at a time keeping only those chosen: memory holds the sample, never a whole shard's crops."""
    if labels is not None:
        labels = labels.filter(pl.col("annotated") & pl.col("subject").is_in(subjects))
    crops, rows = [], []
    for path in face_tables:
        table = pl.from_arrow(pq.read_table(path, columns=["subject", "frame", "face_found"]))
        table = table.filter(pl.col("face_found") & pl.col("subject").is_in(subjects))
        if labels is not None:
            table = table.join(labels, on=["subject", "frame"], how="inner")
        table = table.sort(["subject", "frame"]).with_columns(pl.int_range(pl.len()).over("subject").alias("rank"))
        chosen = table.filter(pl.col("rank") % every == 0).drop("rank")
        keys = chosen.select("subject", "frame")
        parts = [
            pl.from_arrow(batch).join(keys, on=["subject", "frame"], how="semi")
            for batch in stream_batches(path, ["subject", "frame", "crop"], CROP_BATCH_ROWS)
        ]
        empty = pl.DataFrame(schema={"subject": pl.String, "frame": keys["frame"].dtype, "crop": pl.Binary})
        found = pl.concat(parts) if parts else empty
        found = keys.join(found, on=["subject", "frame"], how="left", maintain_order="left")
        crops.extend(found["crop"].to_list())
        rows.append(chosen)
    if not with_rows:
        return crops
    return crops, pl.concat(rows) if rows else None

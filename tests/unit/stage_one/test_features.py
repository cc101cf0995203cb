"""The feature stage's pipeline: rows in order with nothing dropped or repeated, each feature equal to the
backbone's own output on that crop, a failing batch named with no table left behind, and bf16 features
close to fp32 ones on real faces."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from skimage import data

from abawflow.core.errors import FaceTableError
from abawflow.stage_one.alignment import align_face
from abawflow.stage_one.detection import create_detector
from abawflow.stage_one.face_table import FACE_SCHEMA, decode_jpeg, encode_jpeg
from abawflow.stage_one.feature_stage import extract_features, preprocess, resolve_precision
from models.backbones import create_backbone


@pytest.fixture(scope="module")
def real_crops():
    """Aligned crops of a real face: the astronaut, shifted, mirrored and lit differently."""
    photograph = data.astronaut()
    (faces,) = create_detector("retinaface_mobilenet").detect(photograph[None])
    crop = align_face(photograph, faces[0].landmarks, 112)
    crops = []
    for index in range(24):
        image = np.roll(crop, (index % 5 - 2, index % 3 - 1), axis=(0, 1))
        image = image[:, ::-1] if index % 2 else image
        crops.append(np.clip(image.astype(np.int16) + (index % 7 - 3) * 8, 0, 255).astype(np.uint8))
    return crops


def face_table(path, subject, crops, found):
    """A face table of one subject: a row per frame, the crop where ``found``."""
    rows = len(found)
    crop_iter = iter(crops)
    table = pa.table(
        {
            "subject": [subject] * rows,
            "video": [subject] * rows,
            "person": ["single"] * rows,
            "frame": list(range(1, rows + 1)),
            "face_found": found,
            "score": [0.9 if f else None for f in found],
            "box": [[0, 0, 1, 1] if f else None for f in found],
            "landmarks": [[0.0] * 10 if f else None for f in found],
            "crop": [encode_jpeg(next(crop_iter), 95) if f else None for f in found],
        },
        schema=FACE_SCHEMA,
    )
    pq.write_table(table, path, row_group_size=7)
    return path


def small_backbone():
    return create_backbone("resnet18", allow_random_weights=True, seed=0).eval()


def test_rows_come_out_in_order_each_with_its_own_crops_features(tmp_path, real_crops):
    rng = np.random.default_rng(0)
    tables, expected_rows = [], []
    for subject, rows in (("first", 23), ("second", 17), ("empty", 5)):
        found = [bool(f) for f in rng.random(rows) < (0.0 if subject == "empty" else 0.7)]
        crops = [real_crops[rng.integers(len(real_crops))] for _ in range(sum(found))]
        tables.append(face_table(tmp_path / f"{subject}.parquet", subject, crops, found))
        crop_iter = iter(crops)
        expected_rows += [(subject, frame + 1, next(crop_iter) if f else None) for frame, f in enumerate(found)]
    model = small_backbone()
    output = tmp_path / "features.parquet"
    stats = extract_features(tables, model, output, 112, [0.5] * 3, [0.25] * 3, 6, workers=3)
    table = pq.read_table(output)
    assert table.column_names == ["subject", "video", "person", "frame", "face_found", "feature"]
    assert list(zip(table["subject"].to_pylist(), table["frame"].to_pylist(), strict=True)) == [
        (subject, frame) for subject, frame, _ in expected_rows
    ]
    features = np.array(table["feature"].to_pylist(), np.float32)
    assert stats["images"] == sum(crop is not None for *_, crop in expected_rows)
    with torch.inference_mode():
        for row, (_, _, crop) in enumerate(expected_rows):
            if crop is None:
                assert not features[row].any()
                continue
            # The crop as the stage reads it: through the JPEG it was stored as.
            reference = model(preprocess([decode_jpeg(encode_jpeg(crop, 95))], 112, [0.5] * 3, [0.25] * 3))
            assert np.abs(features[row] - reference.numpy()[0]).max() < 1e-4


@pytest.mark.parametrize(
    ("decoding", "message"),
    [
        ("host", r"faces.parquet: the crop of video frame 9 is not a readable JPEG"),
        ("device", r"faces.parquet: a crop of video frames 9..10 is not a readable JPEG"),
    ],
)
def test_a_crop_that_does_not_decode_stops_the_stage_and_leaves_no_table(tmp_path, real_crops, decoding, message):
    path = face_table(tmp_path / "faces.parquet", "video", real_crops[:10], [True] * 10)
    table = pq.read_table(path)
    crops = table["crop"].to_pylist()
    crops[8] = b"not a jpeg"
    pq.write_table(table.set_column(8, "crop", pa.array(crops, pa.binary())), path)
    output = tmp_path / "features.parquet"
    with pytest.raises(FaceTableError, match=message):
        model = small_backbone()
        extract_features([path], model, output, 112, [0.5] * 3, [0.25] * 3, 4, workers=2, jpeg_decoding=decoding)
    assert not output.exists()
    assert list(tmp_path.iterdir()) == [path]


def test_bf16_features_are_within_cosine_0999_of_fp32_on_real_faces(tmp_path, real_crops):
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this CPU build has no bf16 autocast")
    path = face_table(tmp_path / "faces.parquet", "video", real_crops, [True] * len(real_crops))
    model = small_backbone()
    tables = {}
    for precision in ("fp32", "bf16"):
        output = tmp_path / f"{precision}.parquet"
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
        extract_features([path], model, output, 112, mean, std, 8, precision=precision)
        tables[precision] = np.array(pq.read_table(output)["feature"].to_pylist(), np.float64)
    full, half = tables["fp32"], tables["bf16"]
    assert not np.array_equal(full, half)  # bf16 really ran
    cosine = (full * half).sum(1) / np.linalg.norm(full, axis=1) / np.linalg.norm(half, axis=1)
    assert cosine.min() >= 0.999


def test_precision_follows_the_device_and_refuses_unknown_names():
    assert resolve_precision("auto", "cpu") == torch.float32
    assert resolve_precision("auto", "cuda") == torch.bfloat16
    assert resolve_precision("fp16", "cpu") == torch.float16
    with pytest.raises(ValueError, match="precision must be"):
        resolve_precision("int8", "cpu")


@pytest.mark.gpu
def test_on_the_gpu_bf16_features_match_the_cpus_fp32(tmp_path, real_crops):
    path = face_table(tmp_path / "faces.parquet", "video", real_crops, [True] * len(real_crops))
    model = small_backbone()
    extract_features([path], model, tmp_path / "cpu.parquet", 112, [0.5] * 3, [0.25] * 3, 8, "cpu", precision="fp32")
    extract_features([path], model, tmp_path / "gpu.parquet", 112, [0.5] * 3, [0.25] * 3, 8, "cuda", precision="auto")
    full, half = (np.array(pq.read_table(tmp_path / f"{n}.parquet")["feature"].to_pylist()) for n in ("cpu", "gpu"))
    cosine = (full * half).sum(1) / np.linalg.norm(full, axis=1) / np.linalg.norm(half, axis=1)
    assert cosine.min() >= 0.999


@pytest.mark.parametrize(("size", "channels"), [(112, "rgb"), (224, "rgb"), (64, "gray")])
def test_crops_decoded_on_the_device_equal_the_hosts(real_crops, size, channels):
    from abawflow.stage_one.feature_stage import decode_on_device, resize_crops

    data = [encode_jpeg(crop, 95) for crop in real_crops]
    host = resize_crops([decode_jpeg(d) for d in data], size, channels)
    tensors = [torch.from_numpy(np.frombuffer(d, np.uint8).copy()) for d in data]
    device = decode_on_device(tensors, size, channels, "cpu", "faces.parquet", None).numpy()
    assert device.shape == host.shape
    difference = np.abs(device.astype(int) - host)
    assert difference.max() <= 2 and difference.mean() < 0.25  # the two resamplers' and converters' rounding


@pytest.mark.parametrize("kind", [pa.binary(), pa.large_binary()])
def test_crop_bytes_are_each_rows_own_bytes_in_sliced_and_chunked_columns(kind):
    from abawflow.stage_one.feature_stage import crop_bytes

    values = [b"first", None, b"", b"fourth row", b"5", None, b"seventh"]
    column = pa.array(values, kind)
    for sliced, rows in ((column, [0, 2, 3, 6]), (column.slice(3), [0, 1, 2, 3]), (column.slice(1, 4), [0, 3])):
        for part in (sliced, pa.chunked_array([sliced])):
            got = [bytes(tensor.numpy()) for tensor in crop_bytes(part, np.array(rows))]
            assert got == [sliced[row].as_py() or b"" for row in rows]


def test_device_decoding_gives_the_host_decodings_features(tmp_path, real_crops):
    path = face_table(tmp_path / "faces.parquet", "video", real_crops, [True, False] * 12 + [True] * 12)
    model = small_backbone()
    tables = {}
    for decoding in ("host", "device"):
        output = tmp_path / f"{decoding}.parquet"
        extract_features([path], model, output, 112, [0.5] * 3, [0.25] * 3, 5, jpeg_decoding=decoding)
        tables[decoding] = pq.read_table(output)
    assert tables["host"].drop(["feature"]).equals(tables["device"].drop(["feature"]))
    host, device = (np.array(t["feature"].to_pylist()) for t in tables.values())
    assert np.abs(host - device).max() < 1e-4  # no resizing at 112: the same pixels


@pytest.mark.gpu
def test_crops_decoded_on_the_gpu_are_within_a_few_levels_of_the_hosts(real_crops):
    from abawflow.stage_one.feature_stage import decode_on_device, resize_crops

    data = [encode_jpeg(crop, 95) for crop in real_crops]
    host = resize_crops([decode_jpeg(d) for d in data], 224, "rgb")
    tensors = [torch.from_numpy(np.frombuffer(d, np.uint8).copy()) for d in data]
    device = decode_on_device(tensors, 224, "rgb", "cuda", "faces.parquet", None).cpu().numpy()
    difference = np.abs(device.astype(int) - host)
    assert difference.max() <= 4 and difference.mean() < 0.5  # nvJPEG's IDCT is not libjpeg-turbo's

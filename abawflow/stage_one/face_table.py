"""The face table (the face stage's output, and what the organizers' crops are read into) and the feature
table's schema, which keeps the face table's identity columns.

One Parquet table per shard, one row per (subject, frame) of every decoded frame: subject (the annotation
name), video, person (single, left or right), frame, face_found, score, box (x1, y1, x2, y2), landmarks
(10 floats), crop (the aligned face as JPEG bytes, null without a face). Videos are spread over the shards
by size.
"""

from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa

FACE_SCHEMA = pa.schema(
    [
        ("subject", pa.string()),
        ("video", pa.string()),
        ("person", pa.string()),
        ("frame", pa.int32()),
        ("face_found", pa.bool_()),
        ("score", pa.float32()),
        ("box", pa.list_(pa.float32(), 4)),
        ("landmarks", pa.list_(pa.float32(), 10)),
        ("crop", pa.binary()),
    ]
)


def assign_shards(video_sizes, shards):
    """Video -> shard, balancing the shards' total bytes (greedy, largest video first).

    Every shard job computes the same assignment from the same files, so the shards
    partition the videos without a shared plan file.
    """
    loads = [0] * shards
    assignment = {}
    for video, size in sorted(video_sizes.items(), key=lambda item: (-item[1], item[0])):
        shard = min(range(shards), key=lambda index: (loads[index], index))
        assignment[video] = shard
        loads[shard] += size
    return assignment


def video_sizes(subjects, root):
    """Video -> file size in bytes, of the videos of a subjects table (the shard balance's weights)."""
    return {
        video: (Path(root) / path).stat().st_size
        for video, path in subjects.select("video", "video_path").unique().rows()
    }


def parse_shard(name):
    """``"2of8"`` -> (2, 8)."""
    shard, shards = (int(part) for part in name.split("of"))
    return shard, shards


def encode_jpeg(image_rgb, quality):
    ok, data = cv2.imencode(".jpg", image_rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def decode_jpeg(data):
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]


def encode_crops(crops, quality, pool=None, parts=1):
    """Crops -> JPEG bytes, in order; split in ``parts`` encoded on ``pool``'s threads when one is given."""
    if pool is None or parts < 2 or len(crops) < 2:
        return [encode_jpeg(crop, quality) for crop in crops]
    size = -(-len(crops) // parts)
    encoded = pool.map(
        lambda start: [encode_jpeg(c, quality) for c in crops[start : start + size]], range(0, len(crops), size)
    )
    return [data for part in encoded for data in part]


def face_rows_table(video, rows, jpegs):
    """One batch's rows as a face table; ``jpegs``: the encoded crop of each row with a face, in row order."""
    columns = {name: [] for name in FACE_SCHEMA.names}
    jpegs = iter(jpegs)
    for subject, person, frame, detection in rows:
        columns["subject"].append(subject)
        columns["video"].append(video)
        columns["person"].append(person)
        columns["frame"].append(frame)
        columns["face_found"].append(detection is not None)
        if detection is None:
            for column in ("score", "box", "landmarks", "crop"):
                columns[column].append(None)
            continue
        columns["score"].append(detection.score)
        columns["box"].append(detection.box.tolist())
        columns["landmarks"].append(detection.landmarks.reshape(-1).tolist())
        columns["crop"].append(next(jpegs))
    return pa.table(columns, schema=FACE_SCHEMA)


# A feature table (one per backbone) has the face table's identity columns and one vector per row.
IDENTITY_COLUMNS = ["subject", "video", "person", "frame", "face_found"]


def feature_schema(width):
    identity = [FACE_SCHEMA.field(name) for name in IDENTITY_COLUMNS]
    return pa.schema([*identity, ("feature", pa.list_(pa.float32(), width))])


def every_frame_table(schema, subject, video, person, features):
    """A feature table's rows for every frame 1..N of one person-video (audio and text features: each frame has
    its vector, so ``face_found`` is true throughout); ``features`` is (N, width) float32."""
    frames = np.arange(1, len(features) + 1, dtype=np.int32)
    columns = {
        "subject": pa.array([subject] * len(frames), schema.field("subject").type),
        "video": pa.array([video] * len(frames), schema.field("video").type),
        "person": pa.array([person] * len(frames), schema.field("person").type),
        "frame": pa.array(frames, schema.field("frame").type),
        "face_found": pa.array(np.ones(len(frames), bool)),
    }
    vectors = pa.FixedSizeListArray.from_arrays(
        pa.array(np.asarray(features).reshape(-1)), schema.field("feature").type.list_size
    )
    return pa.table([*(columns[name] for name in IDENTITY_COLUMNS), vectors], schema=schema)

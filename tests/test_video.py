import cv2
import numpy as np
import pytest

from abawflow.errors import VideoDecodeError
from abawflow.video import iter_frame_batches


def test_batches_are_bounded_and_numbered(tmp_path):
    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for i in range(23):
        writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
    writer.release()
    batches = list(iter_frame_batches(path, 10))
    assert [first for first, _ in batches] == [1, 11, 21]
    assert [len(frames) for _, frames in batches] == [10, 10, 3]
    assert batches[0][1].shape == (10, 48, 64, 3) and batches[0][1].dtype == np.uint8
    # Frames come back in order: brightness grows with the frame number.
    means = np.concatenate([frames.mean(axis=(1, 2, 3)) for _, frames in batches])
    assert np.all(np.diff(means) > 0)


def test_missing_and_broken_videos_are_named(tmp_path):
    with pytest.raises(VideoDecodeError, match="missing.mp4: video file not found"):
        list(iter_frame_batches(tmp_path / "missing.mp4", 8))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video")
    with pytest.raises(VideoDecodeError, match="broken.mp4: cannot open video"):
        list(iter_frame_batches(broken, 8))

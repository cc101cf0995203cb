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


def write_avi(path, frames, size=(64, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 5 * i % 255, np.uint8))
    writer.release()
    return path


def test_a_probe_records_decodable_and_declared_frames_rate_and_size(tmp_path):
    from abawflow.video import probe_video

    probe = probe_video(write_avi(tmp_path / "v.avi", 40))
    assert (probe.frames, probe.declared_frames, probe.fps, probe.width, probe.height) == (40, 40, 25.0, 64, 48)
    assert not probe.variable_frame_rate and probe.frames_missing == 0
    data = (tmp_path / "v.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])  # the second half of its bytes lost
    cut = probe_video(tmp_path / "cut.avi")
    assert cut.declared_frames == 40 and 0 < cut.frames < 40 and cut.frames_missing == 40 - cut.frames
    # The face stage reads every one of them, even where decord's read-ahead trips over the broken tail.
    assert (
        sum(len(frames) for _, frames in iter_frame_batches(tmp_path / "cut.avi", 4, frames=cut.frames)) == cut.frames
    )


def test_a_truncated_test_video_stops_the_index_and_a_truncated_training_video_warns(tmp_path, caplog):
    import logging

    import polars as pl

    from abawflow.annotations import probe_subject_videos

    write_avi(tmp_path / "whole.avi", 30)
    data = write_avi(tmp_path / "cut.avi", 40).read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    subjects = pl.DataFrame(
        {
            "subject": ["cut_left", "cut_right", "whole"],
            "video": ["cut", "cut", "whole"],
            "video_path": ["cut.avi", "cut.avi", "whole.avi"],
            "person": ["left", "right", "single"],
        }
    )
    with pytest.raises(
        VideoDecodeError, match=r"cut.avi: the container declares 40 frames but only \d+ decode.*test video of AU"
    ):
        probe_subject_videos(subjects, tmp_path, {"cut_right": ["au"]})
    with caplog.at_level(logging.WARNING):
        probed = probe_subject_videos(subjects, tmp_path, {"whole": ["va"]})
    decodable = probed.filter(pl.col("video") == "cut")["frames"].to_list()
    assert decodable[0] == decodable[1] < 40 and probed.filter(pl.col("video") == "whole")["frames"].item() == 30
    assert f"using the {decodable[0]} decodable frames" in caplog.text
    allowed = probe_subject_videos(subjects, tmp_path, {"cut_right": ["au"]}, "use_decodable_frames")
    assert allowed["declared_frames"].to_list() == [40, 40, 30]
    (tmp_path / "whole.avi").write_bytes(b"RIFF not really")
    with pytest.raises(VideoDecodeError, match="whole.avi: cannot open video"):
        probe_subject_videos(subjects, tmp_path, {})

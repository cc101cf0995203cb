"""Measure rule transcribe_speech's engine (pocketsphinx, the English model its wheel ships) by track length: the
stage (decode the MP3 sound file, find the utterances, recognize them, one row per chunk) against the recognizer's
decoder alone on the same utterances, in real-time factors, and the process's peak memory (VmHWM), one fresh
process per length. The tracks are the two read-speech recordings of tests/fixtures/speech, alternated with
0.8 s pauses of quiet noise up to the length, written as 44.1 kHz MP3 like a dataset's sound file.

Usage: python benchmarks/measure_speech_recognition.py [--minutes 1 4] [--workdir DIR]
"""

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
SPEECH = REPOSITORY / "tests" / "fixtures" / "speech"

MEASURE = """
import json, sys, time
import numpy as np
import polars as pl
from abawflow.stage_one.audio_stage import read_audio
from abawflow.stage_one.speech_recognition import SAMPLE_RATE, create_recognizer, transcribe_sound_tracks, utterances

path = sys.argv[1]
settings = {"engine": "pocketsphinx", "model_folder": "", "language": "en", "padding_seconds": 0.3}
recognizer = create_recognizer(settings)
subjects = pl.DataFrame({"subject": ["s"], "video": ["v"], "audio_path": [path], "person": [0], "frames": [1],
                         "fps": [25.0]})
started = time.perf_counter()
table = transcribe_sound_tracks(subjects, "/", recognizer)
stage = time.perf_counter() - started
samples = read_audio(path, SAMPLE_RATE)
started = time.perf_counter()
found = utterances(np.round(samples * 32767).astype("<i2"))
detector = time.perf_counter() - started
started = time.perf_counter()
recognizer(samples)
recognizer_seconds = time.perf_counter() - started
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]
print(json.dumps({"sound_seconds": len(samples) / SAMPLE_RATE, "stage_seconds": stage, "detector_seconds": detector,
                  "decoder_seconds": recognizer_seconds - detector, "chunks": table.height,
                  "utterances": len(found), "peak_mib": int(peak) / 1024}))
"""


def write_track(path, minutes):
    import numpy as np

    from abawflow.datasets.demo.sound import write_mp3
    from abawflow.stage_one.audio_stage import read_audio

    rate = 44100
    recordings = [read_audio(SPEECH / name, rate) for name in ("ill_disposed.wav", "cold_hearted.wav")]
    noise = np.random.default_rng(0)
    parts, length, k = [], 0, 0
    while length < minutes * 60 * rate:
        pause = noise.normal(0, 0.002, int(0.8 * rate)).astype(np.float32)
        parts += [pause, recordings[k % 2]]
        length += len(pause) + len(recordings[k % 2])
        k += 1
    write_mp3(path, np.concatenate(parts)[: int(minutes * 60 * rate)], rate)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 4])
    parser.add_argument("--workdir", type=Path, default=None)
    arguments = parser.parse_args()
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="speech_benchmark_"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for minutes in arguments.minutes:
        track = workdir / f"speech_{minutes:g}min.mp3"
        write_track(track, minutes)
        result = subprocess.run(
            [sys.executable, "-c", MEASURE, str(track)], capture_output=True, text=True, check=True, cwd=REPOSITORY
        )
        run = json.loads(result.stdout.splitlines()[-1])
        rows.append(
            {
                "minutes": minutes,
                "stage_real_time_factor": round(run["sound_seconds"] / run["stage_seconds"], 2),
                "decoder_real_time_factor": round(run["sound_seconds"] / run["decoder_seconds"], 2),
                "stage_over_decoder": round(run["decoder_seconds"] / run["stage_seconds"], 3),
                "utterances": run["utterances"],
                "chunks": run["chunks"],
                "peak_mib": round(run["peak_mib"], 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    machine = f"{platform.machine()}, {__import__('os').cpu_count()} CPU cores"
    print(json.dumps({"machine": machine, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

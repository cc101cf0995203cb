"""Measure the demo pipeline on this machine and write benchmarks/results.md (quoted in the README).

- wall time of the whole demo run (`snakemake --cores 8 submission` from scratch) and its validation scores;
- decode frames/s (decord, bounded batches);
- faces-stage frames/s, and its ratio to the detector's own forward throughput in the same run; the same
  with the detector's torch backend;
- feature-stage images/s, and its ratio to the backbone's own forward throughput in the same run;
- audio-stage windows/s (sound decoding + windows + extractor + Parquet) of log_mel_statistics and
  deep_spectrum (resnet18 at 112 px, random weights), and each one's ratio to the extractor's own throughput
  on windows already in memory, in the same run;
- memory of the face stage on videos of 300, 1200 and 4800 frames.

Usage: python benchmarks/measure_pipeline.py [--workdir DIR]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
MEMORY_VIDEO_FRAMES = (300, 1200, 4800)

import numpy as np
import polars as pl
import torch

from abawflow.datasets.demo.aff_wild2 import DemoVideo, FaceRenderer, render_video
from abawflow.stage_one.audio_stage import extract_audio_features
from abawflow.stage_one.detection import create_detector
from abawflow.stage_one.face_stage import run_face_stage
from abawflow.stage_one.feature_stage import extract_features
from abawflow.stage_one.video import iter_frame_batches
from models.audio import create_audio_extractor
from models.backbones import create_backbone

MEMORY_PROBE = """
import sys
from pathlib import Path
from abawflow.stage_one.detection import create_detector
from abawflow.stage_one.face_stage import run_face_stage
root = Path(sys.argv[1])
detector = create_detector("retinaface_mobilenet", threads=2)
print("ready", flush=True)
run_face_stage([("videos/memory.mp4", {{"memory": "single"}})], root, detector, root / "faces.parquet", 64, 112, 95, 2)
# VmHWM is this process's own peak (ru_maxrss would carry the parent's peak across fork).
print([line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")][0], flush=True)
"""


def demo_run(workdir):
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPOSITORY / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "8",
        "submission",
    ]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"the demo run failed:\n{result.stderr[-3000:]}")
    return seconds, pl.read_csv(workdir / "results" / "metrics" / "validation.csv")


def decode_throughput(videos):
    frames = 0
    started = time.perf_counter()
    for path in videos:
        for _, batch in iter_frame_batches(path, 64, threads=2):
            frames += len(batch)
    return frames / (time.perf_counter() - started)


def faces_stage_memory(workdir, frames):
    """Median and highest RSS of a faces-stage process, polled from outside it, and its own peak (MiB)."""
    probe_root = workdir / f"memory_{frames}"
    plan = DemoVideo("memory", "", ".mp4", 320, 240, ("single",))
    render_video(plan, frames, np.random.default_rng(0), FaceRenderer(), probe_root / "videos" / "memory.mp4")
    command = [sys.executable, "-c", MEMORY_PROBE.format(), str(probe_root)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout.readline().strip() == "ready"  # models loaded; the stage starts now
    samples = []
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                samples += [int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS")]
        except FileNotFoundError:
            break
        time.sleep(0.05)
    peak = float(process.stdout.read().split()[-1]) / 1024  # VmHWM, KiB
    if process.wait() != 0:
        sys.exit(f"the memory probe on a {frames}-frame video failed")
    return [statistics.median(samples), max(samples), peak]


AUDIO_SETTINGS = {"sample_rate": 16000, "window_seconds": 1.0}
AUDIO_EXTRACTORS = {
    "log_mel_statistics": {
        "extractor": "log_mel_statistics",
        "audio": {**AUDIO_SETTINGS, "mels": 32},
        "output_width": 64,
    },
    "deep_spectrum": {
        "extractor": "deep_spectrum",
        "audio": {**AUDIO_SETTINGS, "mels": 128},
        "architecture": "resnet18",
        "allow_random_weights": True,
        "model_options": {"zero_init_last": False},
        "input_size": 112,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "output_width": 512,
    },
}


def audio_throughput(subjects, root, workdir, name, spec):
    """Windows/s of the audio stage and of its extractor alone, in one run over the demo's sound tracks."""
    extractor = create_audio_extractor(name, spec)
    run = extract_audio_features(
        subjects, root, extractor, workdir / f"benchmark_{name}.parquet", 16000, 1.0, 64, "cpu"
    )
    stage, alone = run["windows"] / run["stage_seconds"], run["windows"] / run["extractor_seconds"]
    return {"stage": round(stage, 1), "extractor": round(alone, 1), "ratio": round(stage / alone, 3)}


def throughput_rows(results):
    audio = results["audio"]
    return [
        ("whole demo run, `snakemake --cores 8 submission` from scratch", f"{results['demo_wall_seconds']} s"),
        ("decode (decord, batches of 64)", f"{results['decode_frames_per_second']} frames/s"),
        (
            "detector forward alone, same run (RetinaFace-MobileNet0.25)",
            f"{results['detector_forward_frames_per_second']} frames/s",
        ),
        (
            "faces stage (decode + detect + align + JPEG + Parquet)",
            f"{results['faces_stage_frames_per_second']} frames/s",
        ),
        ("faces stage ÷ detector forward", results["faces_stage_over_detector_forward"]),
        (
            "detector with the torch backend (network + priors + NMS), same frames",
            f"{results['torch_detector_forward_frames_per_second']} frames/s",
        ),
        ("faces stage with the torch backend", f"{results['torch_faces_stage_frames_per_second']} frames/s"),
        (
            "backbone forward alone, same run (resnet18, 112 px, batch 64)",
            f"{results['backbone_forward_images_per_second']} images/s",
        ),
        (
            "feature stage (read + JPEG decode + forward + Parquet)",
            f"{results['feature_stage_images_per_second']} images/s",
        ),
        ("feature stage ÷ backbone forward", results["feature_stage_over_backbone_forward"]),
        *(
            row
            for name, label in (
                ("log_mel_statistics", "log_mel_statistics (32 mels)"),
                ("deep_spectrum", "deep_spectrum (128 mels, resnet18 at 112 px)"),
            )
            for row in (
                (f"audio extractor alone, {label}, 1 s windows", f"{audio[name]['extractor']} windows/s"),
                (
                    f"audio stage (decode + resample + windows + extractor + Parquet), {label}",
                    f"{audio[name]['stage']} windows/s",
                ),
                (f"audio stage ÷ extractor alone, {label}", audio[name]["ratio"]),
            )
        ),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=REPOSITORY / "benchmarks" / "output")
    arguments = parser.parse_args()
    workdir = arguments.workdir.resolve()
    if (workdir / "results").exists() or (workdir / "resources").exists():
        sys.exit(f"{workdir} holds an earlier run; remove it so the demo run is timed from scratch")
    workdir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)

    wall_seconds, scores = demo_run(workdir)
    root = workdir / "resources" / "demo"
    subjects = pl.read_parquet(workdir / "results" / "aff_wild2" / "index" / "subjects.parquet")
    groups = subjects.group_by(["video", "video_path"], maintain_order=True)
    videos = [(path, dict(zip(group["subject"], group["person"], strict=True))) for (_, path), group in groups]
    paths = [root / path for path, _ in videos]

    decode_fps = decode_throughput(paths)
    # Stage and model throughput are both measured inside one stage run, so their ratio compares like with like.
    faces_path = workdir / "benchmark_faces.parquet"
    faces = run_face_stage(videos, root, create_detector("retinaface_mobilenet", threads=2), faces_path, 64, 112, 95, 2)
    faces_fps = faces["frames"] / faces["stage_seconds"]
    detector_fps = faces["frames"] / faces["detector_seconds"]
    # The same stage with the detector's torch backend (the GPU path; on the CPU onnxruntime is the default).
    torch_faces = run_face_stage(
        videos,
        root,
        create_detector("retinaface_mobilenet", backend="torch", threads=2),
        workdir / "benchmark_faces_torch.parquet",
        64,
        112,
        95,
        2,
    )
    model = create_backbone("resnet18", allow_random_weights=True, model_options={"zero_init_last": False})
    features = extract_features(
        [faces_path],
        model,
        workdir / "benchmark_features.parquet",
        112,
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
        64,
    )
    feature_ips = features["images"] / features["stage_seconds"]
    forward_ips = features["images"] / features["forward_seconds"]

    audio = {name: audio_throughput(subjects, root, workdir, name, spec) for name, spec in AUDIO_EXTRACTORS.items()}

    memory = {frames: faces_stage_memory(workdir, frames) for frames in MEMORY_VIDEO_FRAMES}

    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
        + (torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"),
        "demo_wall_seconds": round(wall_seconds, 1),
        "decode_frames_per_second": round(decode_fps, 1),
        "detector_forward_frames_per_second": round(detector_fps, 1),
        "faces_stage_frames_per_second": round(faces_fps, 1),
        "faces_stage_over_detector_forward": round(faces_fps / detector_fps, 3),
        "torch_detector_forward_frames_per_second": round(torch_faces["frames"] / torch_faces["detector_seconds"], 1),
        "torch_faces_stage_frames_per_second": round(torch_faces["frames"] / torch_faces["stage_seconds"], 1),
        "backbone_forward_images_per_second": round(forward_ips, 1),
        "feature_stage_images_per_second": round(feature_ips, 1),
        "feature_stage_over_backbone_forward": round(feature_ips / forward_ips, 3),
        "audio": audio,
        "faces_stage_memory_mib": {
            str(k): {"median_rss": v[0], "max_sampled_rss": v[1], "peak_rss": v[2]} for k, v in memory.items()
        },
        "validation": {
            f"{t}.{e}.{m}": round(v, 4) for t, e, m, v in scores.select("task", "experiment", "metric", "value").rows()
        },
    }
    (REPOSITORY / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Measured figures (benchmarks/measure_pipeline.py)",
        "",
        f"Machine: {results['machine']}.",
        "",
        "| what | value |",
        "|---|---|",
        *[f"| {what} | {value} |" for what, value in throughput_rows(results)],
        "",
        "Memory of the faces stage (batches of 64 frames, 320x240 video), by video length:",
        "",
        "| frames | median RSS while running | highest polled RSS | peak RSS (VmHWM) |",
        "|---|---|---|---|",
        *[
            f"| {frames} | {m['median_rss']:.0f} MiB | {m['max_sampled_rss']:.0f} MiB | {m['peak_rss']:.0f} MiB |"
            for frames, m in results["faces_stage_memory_mib"].items()
        ],
        "",
        "Validation scores of the demo run:",
        "",
        "| task | experiment | metric | value |",
        "|---|---|---|---|",
        *[
            f"| {t} | {e} | {m} | {v:.4f} |"
            for t, e, m, v in scores.select("task", "experiment", "metric", "value").rows()
        ],
        "",
    ]
    (REPOSITORY / "benchmarks" / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

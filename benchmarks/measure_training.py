"""Measure stage two (temporal training and prediction) on synthetic Aff-Wild2-shaped features.

Builds feature tables in the project's own Parquet format (videos of 5,000 frames by default, a face in 95 % of the
frames, VA labels), converts them to feature matrices as the pipeline does (rule cache_feature_matrix), and
for each encoder of the default config (transformer, gru, tcn_transformer) at the default recipe:

- one training epoch through ``abawflow.training.temporal.train``: seconds, windows/s, and the ratio to the same
  model's own throughput (forward, loss, backward, AdamW step) on random windows already on the device, at
  the same batch size and window: the ceiling the data path can approach;
- prediction over the validation videos: windows/s, and the ratio to the model's own forward throughput
  on windows already on the device;
- the peak resident memory (VmHWM) of the process that trains and predicts, one process per encoder.

With ``--feature-memory-gb`` below the matrices' size, the features are read from disk per window, and the
peak memory shows what a job holds whatever the dataset's size.

Usage: python benchmarks/measure_training.py [--frames N] [--video-frames N] [--device cpu|cuda]
       [--feature-memory-gb G] [--output benchmarks/training_cpu.json]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from abawflow.plan.config_layers import load_config
from abawflow.stage_one.face_table import feature_schema
from abawflow.tasks.specs import TaskLayout
from abawflow.training.feature_matrix import FeatureStore, write_feature_matrix
from abawflow.training.loop import create_optimizer
from abawflow.training.regimes import make_windows, window_starts
from abawflow.training.reproducibility import seed_everything
from abawflow.training.sequences import build_sequences
from abawflow.training.temporal import MultiTaskLoss, build_model, predict_sequences, train
from models.losses import create_loss

REPOSITORY = Path(__file__).resolve().parents[1]
VIDEO_FRAMES = 5000
ENCODERS = ("transformer", "gru", "tcn_transformer")


def peak_mib():
    return int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]) / 1024


def write_synthetic_tables(folder, frames, widths, video_frames=VIDEO_FRAMES, seed=0):
    """Feature tables (one per width) and VA labels for ``frames`` frames in videos of ``video_frames``; features
    follow a slow random walk that the labels are a projection of, so the model has something to learn."""
    rng = np.random.default_rng(seed)
    videos = max(2, frames // video_frames)
    subjects = [f"video{k:04d}" for k in range(videos)]
    writers = [
        pq.ParquetWriter(folder / f"backbone{w}_{k}.parquet", feature_schema(w), compression="zstd")
        for k, w in enumerate(widths)
    ]
    projections = [rng.normal(size=(w, 2)).astype(np.float32) / np.sqrt(w) for w in widths]
    labels = []
    for subject in subjects:
        count = video_frames
        found = rng.random(count) > 0.05
        frame_numbers = np.arange(1, count + 1, dtype=np.int32)
        walk = np.cumsum(rng.standard_normal((count, 1), dtype=np.float32), axis=0) * 0.05
        target = np.zeros((count, 2), np.float32)
        for writer, width, projection in zip(writers, widths, projections, strict=True):
            features = (rng.standard_normal((count, width), dtype=np.float32) + walk) * found[:, None]
            target += features @ projection
            table = pa.table(
                [
                    pa.array([subject] * count),
                    pa.array([subject] * count),
                    pa.array(["single"] * count),
                    pa.array(frame_numbers),
                    pa.array(found),
                    pa.FixedSizeListArray.from_arrays(pa.array(features.reshape(-1)), width),
                ],
                schema=feature_schema(width),
            )
            writer.write_table(table)
        target = np.tanh(target / len(widths))
        labels.append(
            pl.DataFrame(
                {
                    "subject": [subject] * count,
                    "frame": frame_numbers,
                    "annotated": found,
                    "valence": target[:, 0],
                    "arousal": target[:, 1],
                }
            )
        )
    for writer in writers:
        writer.close()
    validation = subjects[: max(1, videos // 10)]
    splits = pl.DataFrame(
        {
            "task": ["va"] * videos,
            "split": ["validation" if s in validation else "train" for s in subjects],
            "subject": subjects,
        }
    )
    return [folder / f"backbone{w}_{k}.parquet" for k, w in enumerate(widths)], pl.concat(labels), splits


def default_experiments():
    config = load_config(REPOSITORY / "config.yaml")
    recipe = {"shuffle_labels": False, **config["training"]}
    experiments = {}
    for name in ENCODERS:
        spec = config["experiments"][name]
        model = {key: spec[key] for key in ("fusion", "encoder") if key in spec}
        experiments[name] = (model, {**recipe, **spec.get("recipe", {})})
    return experiments


def synchronize(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def ceiling_training(model_config, widths, recipe, device, steps):
    """Windows/s of forward, loss, backward and AdamW step on random windows already on ``device``."""
    torch.manual_seed(0)
    model = build_model(["va"], widths, model_config).to(device)
    model.train()
    optimizer = create_optimizer("adamw", model.parameters(), recipe["learning_rate"], recipe["weight_decay"])
    batch, window = recipe["batch_size"], recipe["window"]
    features = [torch.randn(batch, window, w, device=device) for w in widths]
    padding = torch.zeros(batch, window, dtype=torch.bool, device=device)
    targets = torch.rand(batch, window, 2, device=device) * 2 - 1
    mask = torch.ones(batch, window, 1, dtype=torch.bool, device=device)
    layout = TaskLayout(["va"])
    loss_function = MultiTaskLoss(layout, {"va": create_loss(layout.specs["va"].loss)})
    state = None
    for step in range(steps + 3):  # three warm-up steps
        if step == 3:
            synchronize(device)
            started = time.perf_counter()
        if model.carries_state:
            outputs, state = model.forward_with_state(features, padding, state)
            state = None
        else:
            outputs = model(features, padding)
        loss = loss_function(outputs, targets, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    synchronize(device)
    return steps * batch / (time.perf_counter() - started)


@torch.no_grad()
def ceiling_prediction(model_config, widths, recipe, device, batches):
    """Windows/s of the forward pass alone on random windows already on ``device``, 32 windows at a time
    (the prediction batch)."""
    model = build_model(["va"], widths, model_config).to(device).eval()
    window = recipe["window"]
    features = [torch.randn(32, window, w, device=device) for w in widths]
    padding = torch.zeros(32, window, dtype=torch.bool, device=device)
    for _ in range(2):
        model(features, padding)
    synchronize(device)
    started = time.perf_counter()
    for _ in range(batches):
        model(features, padding)
    synchronize(device)
    return batches * 32 / (time.perf_counter() - started)


def commit():
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPOSITORY, capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def machine(device):
    if str(device).startswith("cuda"):
        return f"{torch.cuda.get_device_name(0)}, {os.cpu_count()} CPU cores"
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU"


def measure_encoder(name, workdir, arguments):
    """One encoder's figures, in a process of its own (run as ``--measure NAME``): its peak memory is what a
    training job on these tables holds (libraries, labels, the feature store, the model), nothing else."""
    device = arguments.device
    model_config, recipe = default_experiments()[name]
    recipe = {**recipe, "epochs": 1}
    if arguments.batch_size:
        recipe["batch_size"] = arguments.batch_size
    matrices = sorted(workdir.glob("backbone*.npy"), key=lambda p: int(p.stem.split("_")[1]))
    rows = [m.with_suffix(".rows.parquet") for m in matrices]
    after_imports = peak_mib()
    labels, splits = pl.read_parquet(workdir / "labels_va.parquet"), pl.read_parquet(workdir / "splits.parquet")
    store = FeatureStore.open(matrices, int(arguments.feature_memory_gb * 1e9), device)
    sequences = build_sequences(rows, store, {"va": labels}, splits, "va")
    widths = list(store.widths)
    carries_state = build_model(["va"], widths, model_config).carries_state
    if carries_state:  # segments of consecutive windows, batch_size videos at a time
        windows = sum(-(-len(s.frames) // recipe["window"]) for s in sequences["train"])
    else:
        windows = len(make_windows(sequences["train"], recipe["window"], recipe["stride"]))
    validation = sequences["validation"]
    sequences["validation"] = []  # one epoch of training alone
    seed_everything(0)  # once per process: the first call also initialises torch's CUDA state (a second here)
    synchronize(device)
    started = time.perf_counter()
    model, history = train("va", sequences, model_config, recipe, device)
    synchronize(device)
    epoch_seconds = time.perf_counter() - started
    training_peak = peak_mib()
    started = time.perf_counter()
    predict_sequences(["va"], model, validation, recipe["window"], recipe["stride"], device)
    synchronize(device)
    prediction_seconds = time.perf_counter() - started
    if carries_state:
        predicted = sum(-(-len(s.frames) // recipe["window"]) for s in validation)
    else:
        predicted = sum(len(window_starts(len(s.frames), recipe["window"], recipe["stride"])) for s in validation)
    steps = max(20, min(200, windows // recipe["batch_size"]))
    ceiling = ceiling_training(model_config, widths, recipe, device, steps)
    forward_ceiling = ceiling_prediction(model_config, widths, recipe, device, 100)
    store.close()
    frames = sum(len(s.frames) for s in sequences["train"]) + sum(len(s.frames) for s in validation)
    return {
        "window": recipe["window"],
        "stride": recipe["stride"],
        "batch_size": recipe["batch_size"],
        "training_windows": windows,
        "epoch_seconds": round(epoch_seconds, 2),
        "training_windows_per_second": round(windows / epoch_seconds, 1),
        "ceiling_windows_per_second": round(ceiling, 1),
        "training_over_ceiling": round(windows / epoch_seconds / ceiling, 3),
        "train_loss": round(history[-1]["train_loss"], 4),
        "prediction_windows_per_second": round(predicted / prediction_seconds, 1),
        "forward_ceiling_windows_per_second": round(forward_ceiling, 1),
        "prediction_over_ceiling": round(predicted / prediction_seconds / forward_ceiling, 3),
        "rss_after_imports_mib": round(after_imports, 1),
        "peak_rss_mib": round(training_peak, 1),
        "projected_25_epochs_at_2_8M_frames_minutes": round(25 * epoch_seconds * 2_800_000 / frames / 60, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=24000, help="synthetic frames")
    parser.add_argument("--video-frames", type=int, default=VIDEO_FRAMES, help="frames per synthetic video")
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 512], help="backbone feature widths")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--feature-memory-gb", type=float, default=8.0, help="as the config's feature_memory_gb")
    parser.add_argument("--batch-size", type=int, default=None, help="override the default recipe's batch size")
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS))
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)  # one encoder, in a child process
    arguments = parser.parse_args()
    torch.set_num_threads(min(os.cpu_count() or 1, 16))
    if arguments.measure:
        print(json.dumps(measure_encoder(arguments.measure, arguments.workdir, arguments)))
        return 0

    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="abawflow-training-benchmark-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tables, labels, splits = write_synthetic_tables(workdir, arguments.frames, arguments.widths, arguments.video_frames)
    labels.write_parquet(workdir / "labels_va.parquet")
    splits.write_parquet(workdir / "splits.parquet")
    table_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for table in tables:
        write_feature_matrix(table, table.with_suffix(".npy"), table.with_suffix(".rows.parquet"))
    matrix_seconds = time.perf_counter() - started
    matrix_bytes = sum(t.with_suffix(".npy").stat().st_size for t in tables)
    results = {
        "machine": machine(arguments.device),
        "commit": commit(),
        "device": arguments.device,
        "torch": torch.__version__,
        "frames": len(labels),
        "video_frames": arguments.video_frames,
        "widths": arguments.widths,
        "matrix_gb": round(matrix_bytes / 1e9, 3),
        "feature_memory_gb": arguments.feature_memory_gb,
        "features_resident": matrix_bytes <= arguments.feature_memory_gb * 1e9,
        "synthetic_tables_seconds": round(table_seconds, 1),
        "cache_feature_matrix_seconds": round(matrix_seconds, 1),
        "encoders": {},
    }
    forwarded = ["--device", arguments.device, "--feature-memory-gb", str(arguments.feature_memory_gb)]
    if arguments.batch_size:
        forwarded += ["--batch-size", str(arguments.batch_size)]
    for name in arguments.encoders:
        child = subprocess.run(
            [sys.executable, __file__, "--measure", name, "--workdir", str(workdir), *forwarded],
            capture_output=True,
            text=True,
        )
        if child.returncode != 0:
            sys.exit(f"measuring {name} failed:\n{child.stderr[-3000:]}")
        results["encoders"][name] = json.loads(child.stdout.strip().splitlines()[-1])
        print(name, json.dumps(results["encoders"][name]), flush=True)
    text = json.dumps(results, indent=2)
    print(text)
    if arguments.output:
        arguments.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

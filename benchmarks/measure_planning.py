"""Measure planning at Aff-Wild2 scale: the config plan, the dataset fingerprints the index rules take, and a
whole `snakemake --dry-run`, on a synthetic layout with Aff-Wild2's file counts (594 videos, about 1,150
annotation files, three test lists). Only file names, sizes and time stamps matter to planning, so the videos
are sparse files of realistic sizes and the annotation files hold a header line.

Usage: python benchmarks/measure_planning.py [--workdir DIR]   (writes benchmarks/planning.md)
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from abawflow.datasets.dataset_files import (
    aff_wild2_index_files,
    aff_wild2_subject_names,
    aff_wild2_videos,
    fingerprint_files,
)
from abawflow.plan.compiler import compile_plan
from abawflow.plan.config_layers import load_config

REPOSITORY = Path(__file__).resolve().parents[1]
VIDEOS = 594
# Annotated subjects per task and split, and test-set sizes, as in the ABAW6 release.
ANNOTATED = {"va": (356, 76), "expr": (248, 70), "au": (295, 105)}
TESTED = {"va": 162, "expr": 228, "au": 141}
FOLDERS = {"va": "VA_Estimation_Challenge", "expr": "EXPR_Recognition_Challenge", "au": "AU_Detection_Challenge"}


def make_layout(root):
    names = [f"{k}-{k % 60}-1280x720" for k in range(VIDEOS)]
    for k, name in enumerate(names):
        path = root / "videos" / ("batch1" if k % 2 else "batch2") / f"{name}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as file:
            file.truncate(20_000_000 + 1000 * k)  # sparse: a size, no blocks
    config = load_config(REPOSITORY / "config.yaml")  # the demo's methods
    for task, (train, validation) in ANNOTATED.items():
        for split, count, offset in (("Train_Set", train, 0), ("Validation_Set", validation, train)):
            folder = root / config["dataset"]["annotation_folder"] / FOLDERS[task] / split
            folder.mkdir(parents=True, exist_ok=True)
            for name in names[offset : offset + count]:
                (folder / f"{name}.txt").write_text("header\n")
        test_list = root / config["dataset"]["test_lists"][task]
        test_list.parent.mkdir(parents=True, exist_ok=True)
        test_list.write_text("\n".join(names[-TESTED[task] :]) + "\n")
    return config


def timed(function, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    arguments = parser.parse_args()
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="abawflow-planning-"))
    root = workdir / "aff_wild2"
    config = make_layout(root)
    config["dataset"]["root"] = str(root)
    dataset = config["dataset"]
    tasks = ("va", "expr", "au")
    plan_time, plan = timed(lambda: compile_plan(config))
    index_paths = aff_wild2_index_files(
        root, dataset["annotation_folder"], FOLDERS, dataset["test_lists"], dataset["video_folder"], tasks
    )
    files_time, files = timed(
        lambda: fingerprint_files(
            root,
            aff_wild2_index_files(
                root, dataset["annotation_folder"], FOLDERS, dataset["test_lists"], dataset["video_folder"], tasks
            ),
        )
    )
    subjects_time, _ = timed(
        lambda: fingerprint_files(
            root,
            aff_wild2_videos(root, dataset["video_folder"]),
            aff_wild2_subject_names(root, dataset["annotation_folder"], FOLDERS, dataset["test_lists"], tasks),
        )
    )
    layer = workdir / "layer.yaml"
    layer.write_text(yaml.safe_dump({"methods": "demo", "dataset": {"root": str(root)}}))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPOSITORY / "Snakefile"), "--directory"]
    command += [str(workdir), "--cores", "2", "--dry-run", "submission", "--configfile", str(layer)]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    dry_run = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(result.stderr[-3000:])
    lines = [
        "# Planning at Aff-Wild2 scale",
        "",
        f"Synthetic layout: {VIDEOS} videos, {files['files'] - VIDEOS - 3} annotation files, 3 test lists "
        f"({len(index_paths)} files fingerprinted). Median of 5 runs, one process, this machine.",
        "",
        "| step | seconds |",
        "|---|---|",
        f"| compile the default config's plan (schema, checks, components) | {plan_time:.3f} |",
        f"| fingerprint of the files index_annotations reads | {files_time:.3f} |",
        f"| fingerprint of the subjects index_videos depends on | {subjects_time:.3f} |",
        f"| whole `snakemake --dry-run submission` ({len(plan.experiments)} experiments), one run | {dry_run:.1f} |",
        "",
    ]
    (REPOSITORY / "benchmarks" / "planning.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Rule detect_and_align_faces: one shard of videos -> aligned crops and per-frame face table."""

import sys
from pathlib import Path

# Import abawflow and models from this repository (Snakemake puts only workflow_scripts/ on the path).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

import polars as pl

from abawflow.detection import create_detector
from abawflow.faces import run_face_stage, shard_of
from abawflow.rule_runner import run


def main(snakemake):
    params = snakemake.params
    shard, shards = (int(part) for part in snakemake.wildcards.shard.split("of"))
    subjects = pl.read_parquet(snakemake.input.subjects)
    videos = [
        (video_path, dict(zip(group["subject"], group["person"], strict=True)))
        for (video, video_path), group in subjects.group_by(["video", "video_path"], maintain_order=True)
        if shard_of(video, shards) == shard
    ]
    detector = create_detector(
        params.detector,
        model_path=params.detector_model_path or None,
        score_threshold=params.score_threshold,
        input_size=params.detector_input_size,
        device="cpu" if params.device == "cpu" else "auto",
        threads=snakemake.threads,
    )
    run_face_stage(
        videos,
        Path(snakemake.input.root),
        detector,
        snakemake.output[0],
        params.batch_size,
        params.crop_size,
        params.jpeg_quality,
        snakemake.threads,
    )


run(snakemake, main)  # noqa: F821

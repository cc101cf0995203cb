"""Rule detect_and_align_faces: one shard of videos -> aligned crops and per-frame face table."""

import logging
from pathlib import Path

import polars as pl

from abawflow.core import execution
from abawflow.core.rule_runner import run
from abawflow.stage_one.detection import detector_from_settings
from abawflow.stage_one.face_stage import decoder_count, decoder_threads, jpeg_encoder_count, run_face_stage
from abawflow.stage_one.face_table import assign_shards, parse_shard, video_sizes

log = logging.getLogger("abawflow.stage_one.face_stage")
DETECTOR_SETTINGS = ("detector", "detector_model_path", "detector_backend", "score_threshold", "detector_input_size")


def main(snakemake):
    execution_settings = execution.settings(snakemake.config)
    params = snakemake.params
    shard, shards = parse_shard(snakemake.wildcards.shard)
    subjects = pl.read_parquet(snakemake.input.media)
    root = Path(snakemake.input.root)
    sizes = video_sizes(subjects, root)
    assignment = assign_shards(sizes, shards)
    videos = [
        (video_path, dict(zip(group["subject"], group["person"], strict=True)), group["frames"][0])
        for (video, video_path), group in subjects.group_by(["video", "video_path"], maintain_order=True)
        if assignment[video] == shard
    ]
    log.info(
        "shard %d of %d: %d of %d videos, %.1f MB",
        shard,
        shards,
        len(videos),
        len(sizes),
        sum(sizes[v] for v, s in assignment.items() if s == shard) / 1e6,
    )
    settings = {key: getattr(params, key) for key in DETECTOR_SETTINGS}
    detector = detector_from_settings(settings, execution_settings.device, snakemake.threads)
    run_face_stage(
        videos,
        root,
        detector,
        snakemake.output[0],
        execution_settings.faces_batch_size,
        params.crop_size,
        params.jpeg_quality,
        decoder_threads(snakemake.threads),
        decoder_count(snakemake.threads),
        video_decoding=execution_settings.video_decoding,
        encoders=jpeg_encoder_count(snakemake.threads),
    )


run(snakemake, main)  # noqa: F821

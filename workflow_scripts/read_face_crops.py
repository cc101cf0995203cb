"""Rule read_face_crops: one shard of a dataset's organizer crops -> face table (no detection)."""

import logging
from pathlib import Path

import polars as pl

from abawflow.core.errors import DatasetLayoutError
from abawflow.core.rule_runner import run
from abawflow.datasets.registry import DATASETS
from abawflow.stage_one.face_crops import image_crop_rows, subject_crop_rows, write_face_crops
from abawflow.stage_one.face_table import parse_shard

log = logging.getLogger("abawflow.stage_one.face_crops")

# The dataset's index table of what stage one reads -> the rows of its crops.
CROP_ROWS = {"subjects": subject_crop_rows, "images": image_crop_rows}


def main(snakemake):
    shard, shards = parse_shard(snakemake.wildcards.shard)
    root = Path(snakemake.input.root)
    crops_root = root / snakemake.params.crops_folder
    dataset = DATASETS[snakemake.wildcards.dataset]
    if not crops_root.is_dir():
        raise DatasetLayoutError(
            f"{crops_root}: crops folder not found; check {dataset.config_section}.root and "
            f"{dataset.config_section}.crops_folder"
        )
    media = pl.read_parquet(snakemake.input.media)
    if dataset.crop_files:  # its own numbering of the crops
        rows = subject_crop_rows(media, root, crops_root, shard, shards, dataset.crop_files)
    else:
        rows = CROP_ROWS[dataset.media](media, root, crops_root, shard, shards)
    log.info("shard %d of %d of %s, crops from %s", shard, shards, snakemake.wildcards.dataset, crops_root)
    write_face_crops(rows, crops_root, snakemake.output[0])


run(snakemake, main)  # noqa: F821

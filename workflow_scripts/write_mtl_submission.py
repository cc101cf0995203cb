"""Rule write_mtl_submission: the submitted MTL experiment's test predictions -> results/submission/mtl.txt."""

import polars as pl

from abawflow.mtl import write_mtl_submission
from abawflow.rule_runner import run
from abawflow.submission import output_columns, table_thresholds
from abawflow.tasks import get_task


def main(snakemake):
    images = pl.read_parquet(snakemake.input.images).filter(pl.col("split") == "test").sort("position")
    predictions = pl.read_parquet(snakemake.input.predictions).filter(pl.col("split") == "test")
    rows = images.join(predictions, on=["subject", "frame"], how="left")
    missing = rows.filter(pl.col(output_columns("va")[0]).is_null())
    if missing.height:
        raise ValueError(f"no MTL prediction for test image {missing['image'][0]!r}")
    valence_arousal = get_task("va").decide(rows.select(output_columns("va")).to_numpy())
    expression = get_task("expr").decide(rows.select(output_columns("expr")).to_numpy())
    units = get_task("au").decide(rows.select(output_columns("au")).to_numpy(), table_thresholds("au", predictions))
    decided = {
        image: (valence_arousal[k, 0], valence_arousal[k, 1], expression[k], units[k])
        for k, image in enumerate(rows["image"].to_list())
    }
    write_mtl_submission(snakemake.output[0], decided, images["image"].to_list())


run(snakemake, main)  # noqa: F821

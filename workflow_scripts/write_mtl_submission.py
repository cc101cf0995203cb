"""Rule write_mtl_submission: the submitted MTL experiment's test predictions -> results/submission/mtl.txt."""

import polars as pl

from abawflow.errors import SubmissionError
from abawflow.mtl import write_mtl_submission
from abawflow.rule_runner import run
from abawflow.submission import checked_outputs, output_columns, table_thresholds
from abawflow.tasks import get_task


def main(snakemake):
    images = pl.read_parquet(snakemake.input.images).filter(pl.col("split") == "test").sort("position")
    predictions = pl.read_parquet(snakemake.input.predictions).filter(pl.col("split") == "test")
    rows = images.join(predictions, on=["subject", "frame"], how="left")
    missing = rows.filter(pl.col(output_columns("va")[0]).is_null())
    if missing.height:
        raise SubmissionError(f"no MTL prediction for test image {missing['image'][0]!r}. Nothing was written.")
    images_in_order = rows["image"].to_list()
    outputs = {
        task: checked_outputs(
            task, rows.select(output_columns(task)).to_numpy(), lambda row: f"test image {images_in_order[row]!r}"
        )
        for task in ("va", "expr", "au")
    }
    valence_arousal = get_task("va").decide(outputs["va"])
    expression = get_task("expr").decide(outputs["expr"])
    units = get_task("au").decide(outputs["au"], table_thresholds("au", predictions))
    decided = {
        image: (valence_arousal[k, 0], valence_arousal[k, 1], expression[k], units[k])
        for k, image in enumerate(rows["image"].to_list())
    }
    write_mtl_submission(snakemake.output[0], decided, images["image"].to_list())


run(snakemake, main)  # noqa: F821

"""Rules write_submission (ABAW5/6: one file per challenge, mtl.txt included) and write_submission_per_video
(ABAW3: a file per video): the submitted predictions' test rows, written by the challenge's writer."""

import polars as pl

from abawflow.challenges import get_challenge
from abawflow.rule_runner import run


def main(snakemake):
    challenge = get_challenge(snakemake.wildcards.task)
    predictions = pl.read_parquet(snakemake.input.predictions).filter(pl.col("split") == "test")
    index = pl.read_parquet(snakemake.input.index)
    media = pl.read_parquet(snakemake.input.media)
    challenge.write_submission(predictions, index, snakemake.output[0], snakemake.params.layout, media)


run(snakemake, main)  # noqa: F821

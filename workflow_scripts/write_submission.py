"""Rules write_submission (ABAW5/6: one file per challenge, mtl.txt included), write_trial_submission (more
entries: trial-<k>) and write_submission_per_video (ABAW3: a file per video): the predictions' test rows, written
by the challenge's writer."""

import polars as pl

from abawflow.challenges.registry import get_challenge
from abawflow.challenges.submission import face_coverage
from abawflow.core.atomic import write_csv
from abawflow.core.rule_runner import run


def main(snakemake):
    challenge = get_challenge(snakemake.wildcards.challenge)
    predictions = pl.read_parquet(snakemake.input.predictions).filter(pl.col("split") == "test")
    index = pl.read_parquet(snakemake.input.index)
    media = pl.read_parquet(snakemake.input.media)
    challenge.write_submission(
        predictions, index, snakemake.output.submission, snakemake.params.layout, media, snakemake.params.settings
    )
    write_csv(face_coverage(predictions, snakemake.params.minimum_face_coverage), snakemake.output.coverage)


run(snakemake, main)  # noqa: F821

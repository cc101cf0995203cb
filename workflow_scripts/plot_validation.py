"""Rule plot_validation: the submitted predictions of one Aff-Wild2 task against the validation labels."""

import polars as pl

from abawflow.core.rule_runner import run
from abawflow.report.validation_figures import action_unit_scores, confusion_matrix, va_over_time

FIGURES = {"va": va_over_time, "expr": confusion_matrix, "au": action_unit_scores}


def main(snakemake):
    predictions = pl.read_parquet(snakemake.input.predictions)
    labels = pl.read_parquet(snakemake.input.labels)
    FIGURES[snakemake.wildcards.challenge](predictions, labels, snakemake.output[0], snakemake.params.submitted)


run(snakemake, main)  # noqa: F821

"""Rule write_report_description: the report's first page, the run's score tables before the workflow's
description (snakemake --report reads it)."""

from abawflow.core.atomic import write_text
from abawflow.core.rule_runner import run
from abawflow.report.figures import report_description


def main(snakemake):
    tables = dict(zip(snakemake.params.challenges, snakemake.input.scores, strict=True))
    text = snakemake.params.description
    write_text(snakemake.output[0], report_description(tables, snakemake.params.submitted, text))


run(snakemake, main)  # noqa: F821

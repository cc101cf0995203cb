"""Rule write_score_table: one challenge's validation scores as an HTML table for the report."""

from abawflow.core.rule_runner import run
from abawflow.report.figures import score_table_html


def main(snakemake):
    challenge = snakemake.wildcards.challenge
    score_table_html(snakemake.input[0], snakemake.output[0], f"{challenge.upper()}: validation scores")


run(snakemake, main)  # noqa: F821

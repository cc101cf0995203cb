"""Rule write_score_table: one challenge's validation scores as an HTML table for the report."""

from abawflow.core.rule_runner import run
from abawflow.report.figures import score_table_html


def main(snakemake):
    challenge = snakemake.wildcards.challenge
    title = f"{challenge.upper()}: validation scores"
    weights = dict(zip(snakemake.params.ensembles, snakemake.input.ensemble_weights, strict=True))
    score_table_html(snakemake.input.scores, snakemake.output[0], title, snakemake.params.submitted, weights)


run(snakemake, main)  # noqa: F821

"""Rule write_runtime_table: the long jobs' benchmark files -> the report's runtime and throughput table."""

from abawflow.core.rule_runner import run
from abawflow.report.figures import runtime_table_html


def main(snakemake):
    runtime_table_html(list(snakemake.input.benchmarks), snakemake.params.tables, snakemake.output[0])


run(snakemake, main)  # noqa: F821

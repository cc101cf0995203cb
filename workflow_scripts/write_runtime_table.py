"""Rule write_runtime_table: the long jobs' benchmark files -> the report's runtime and throughput table."""

from abawflow.report_figures import runtime_table_html
from abawflow.rule_runner import run


def main(snakemake):
    runtime_table_html(list(snakemake.input.benchmarks), snakemake.params.tables, snakemake.output[0])


run(snakemake, main)  # noqa: F821

"""Rule cache_feature_matrix: a feature table as a float32 matrix sorted by (subject, frame), with its row table."""

from abawflow.feature_matrix import write_feature_matrix
from abawflow.rule_runner import run


def main(snakemake):
    write_feature_matrix(snakemake.input[0], snakemake.output.matrix, snakemake.output.rows)


run(snakemake, main)  # noqa: F821

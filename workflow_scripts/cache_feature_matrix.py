"""Rule cache_feature_matrix: a feature table as a float32 matrix sorted by (subject, frame), with its row table."""

from abawflow.core.rule_runner import run
from abawflow.training.feature_matrix import write_feature_matrix


def main(snakemake):
    write_feature_matrix(snakemake.input[0], snakemake.output.matrix, snakemake.output.rows)


run(snakemake, main)  # noqa: F821

"""Rule plot_learning_curves: training loss and validation score per epoch of every run of one experiment."""

from abawflow.core.rule_runner import run
from abawflow.report.figures import learning_curves


def main(snakemake):
    learning_curves(list(snakemake.input), snakemake.output[0], snakemake.wildcards.experiment)


run(snakemake, main)  # noqa: F821

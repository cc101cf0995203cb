"""The demo rule of a dataset whose demo generator is registered (abawflow/datasets/registry.py)."""

from abawflow.core.rule_runner import run
from abawflow.datasets.registry import DATASETS


def main(snakemake):
    DATASETS[snakemake.params.dataset].demo.make(snakemake.output[0], **snakemake.params.settings)


run(snakemake, main)  # noqa: F821

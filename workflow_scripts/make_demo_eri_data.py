"""Rule demo_eri_data: the embedded Hume-Reaction-layout demo of the ERI challenge."""

from abawflow.core.rule_runner import run
from abawflow.datasets.demo.hume_reaction import make_demo_hume_reaction


def main(snakemake):
    params = snakemake.params
    make_demo_hume_reaction(snakemake.output[0], params.seed, params.samples, params.frames)


run(snakemake, main)  # noqa: F821

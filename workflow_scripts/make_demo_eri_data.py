"""Rule demo_eri_data: the embedded Hume-Reaction-layout demo of the ERI challenge."""

from abawflow.demo_hume_reaction import make_demo_hume_reaction
from abawflow.rule_runner import run


def main(snakemake):
    params = snakemake.params
    make_demo_hume_reaction(snakemake.output[0], params.seed, params.samples, params.frames)


run(snakemake, main)  # noqa: F821

"""Rule demo_data: write the embedded demo dataset."""

from abawflow.core.rule_runner import run
from abawflow.datasets.demo.aff_wild2 import make_demo_dataset


def main(snakemake):
    make_demo_dataset(
        snakemake.output[0],
        seed=snakemake.params.seed,
        videos=snakemake.params.videos,
        frames_per_video=snakemake.params.frames_per_video,
    )


run(snakemake, main)  # noqa: F821 (injected by Snakemake)

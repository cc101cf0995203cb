"""Rule demo_data: write the embedded demo dataset."""

from abawflow.demo_data import make_demo_dataset
from abawflow.rule_runner import run


def main(snakemake):
    make_demo_dataset(
        snakemake.output[0],
        seed=snakemake.params.seed,
        videos=snakemake.params.videos,
        frames_per_video=snakemake.params.frames_per_video,
    )


run(snakemake, main)  # noqa: F821 (injected by Snakemake)

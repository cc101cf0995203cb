"""Rule demo_mtl_data: the demo's MTL part in the s-Aff-Wild2 layout (aligned crops, annotation files, test list)."""

from abawflow.core.rule_runner import run
from abawflow.datasets.demo.s_aff_wild2 import make_mtl_demo


def main(snakemake):
    make_mtl_demo(
        snakemake.output[0],
        seed=snakemake.params.seed,
        videos=snakemake.params.videos,
        frames_per_video=snakemake.params.frames_per_video,
        images_per_video=snakemake.params.images_per_video,
    )


run(snakemake, main)  # noqa: F821 (injected by Snakemake)

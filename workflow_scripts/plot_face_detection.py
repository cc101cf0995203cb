"""Rule plot_face_detection: the share of each person-video's frames with a face."""

from abawflow.core.rule_runner import run
from abawflow.report.figures import face_detection_rates


def main(snakemake):
    face_detection_rates(list(snakemake.input), snakemake.output[0], snakemake.wildcards.dataset)


run(snakemake, main)  # noqa: F821

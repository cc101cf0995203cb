"""Rule plot_face_detection: the share of each person-video's frames with a face."""

from abawflow.report_figures import face_detection_rates
from abawflow.rule_runner import run


def main(snakemake):
    face_detection_rates(list(snakemake.input), snakemake.output[0], snakemake.wildcards.dataset)


run(snakemake, main)  # noqa: F821

"""Rule predict_video: the model bundle on one video -> results/predict/<video>/."""

from pathlib import Path

from abawflow import execution
from abawflow.bundle import load_bundle
from abawflow.devices import resolve_device
from abawflow.rule_runner import run
from abawflow.video_prediction import predict_video


def main(snakemake):
    output = Path(snakemake.output[0])
    predict_video(
        snakemake.input.video,
        load_bundle(snakemake.input.bundle),
        output.parent,
        snakemake.params.people,
        snakemake.params.overlay,
        resolve_device(execution.device(snakemake.config)),
        execution.faces_batch_size(snakemake.config),
        snakemake.threads,
    )


run(snakemake, main)  # noqa: F821

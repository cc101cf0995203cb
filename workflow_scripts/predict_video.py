"""Rule predict_video: the model bundle on one video -> results/predict/<video>/."""

from pathlib import Path

from abawflow.core import execution
from abawflow.core.devices import resolve_device
from abawflow.core.rule_runner import run
from abawflow.predict.bundle import load_bundle
from abawflow.predict.video_prediction import predict_video


def main(snakemake):
    settings = execution.settings(snakemake.config)
    output = Path(snakemake.output[0])
    predict_video(
        snakemake.input.video,
        load_bundle(snakemake.input.bundle),
        output.parent,
        snakemake.params.people,
        snakemake.params.overlay,
        resolve_device(settings.device),
        settings.faces_batch_size,
        snakemake.threads,
        snakemake.params.undecodable_tail,
    )


run(snakemake, main)  # noqa: F821

"""Rule transcribe_speech: what speech recognition hears in every video's sound -> one row per spoken chunk."""

import polars as pl

from abawflow.core import execution
from abawflow.core.atomic import write_parquet
from abawflow.core.devices import resolve_device
from abawflow.core.rule_runner import run
from abawflow.stage_one.speech_recognition import create_recognizer, transcribe_sound_tracks


def main(snakemake):
    device = resolve_device(execution.settings(snakemake.config).device)
    recognizer = create_recognizer(snakemake.params.settings, device)
    subjects = pl.read_parquet(snakemake.input.media)
    write_parquet(transcribe_sound_tracks(subjects, snakemake.input.root, recognizer), snakemake.output[0])


run(snakemake, main)  # noqa: F821

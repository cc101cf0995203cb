"""Text backbones on a researcher's data that ships no transcripts: rule transcribe_speech makes them from the
sound with the English model in the pocketsphinx wheel. Read speech (tests/fixtures/speech, LibriVox) is put
into the sound files of two videos of a Hume-Vidmimic2 copy outside the repository."""

import numpy as np
import polars as pl
import pytest
from support.dag import job_counts, snakemake
from support.speech import SPEECH, SPEECH_FOLDER, heard_words

from abawflow.datasets.demo.hume_vidmimic2 import make_demo_hume_vidmimic2
from abawflow.datasets.demo.sound import write_mp3
from abawflow.stage_one.audio_stage import read_audio

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def researcher(tmp_path_factory):
    """A copy without transcripts whose first two training videos' sound files say the recordings, one second
    into the track (the rest of the sound is the demo's hum)."""
    outside = tmp_path_factory.mktemp("researcher")
    root = make_demo_hume_vidmimic2(outside / "Hume-Vidmimic2", seed=5, videos=8, frames=30)
    ids = [line.split(",")[0] for line in (root / "train_split.csv").read_text().splitlines()[1:3]]
    spoken = {}
    for video, (name, words) in zip(ids, SPEECH.items(), strict=True):
        speech = read_audio(SPEECH_FOLDER / f"{name}.wav", 44100)
        write_mp3(root / "audio" / f"{video}.mp3", np.concatenate([np.zeros(44100, np.float32), speech]), 44100)
        spoken[video] = words
    config = outside / "emi.yaml"
    config.write_text(f"methods: demo\ntasks: [emi]\nemi: {{root: {root}, transcript_folder: ''}}\n")
    return outside, config, spoken


def test_without_transcripts_the_plan_transcribes_the_sound(researcher, tmp_path):
    outside, config, _ = researcher
    result = snakemake(tmp_path, "--dry-run", configs=[config])
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    assert counts["transcribe_speech"] == 1 and "read_transcripts" not in counts
    assert counts["extract_text_features"] == 1


def test_a_whisper_engine_without_its_model_folder_stops_the_dry_run(researcher, tmp_path):
    outside, config, _ = researcher
    whisper = tmp_path / "whisper.yaml"
    whisper.write_text(f"speech_recognition: {{engine: faster_whisper, model_folder: {outside / 'whisper-small'}}}\n")
    result = snakemake(tmp_path, "--dry-run", configs=[config, whisper])
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output, output[-3000:]
    assert f"speech_recognition.model_folder '{outside / 'whisper-small'}' holds no model.bin" in output


def test_the_transcripts_hold_what_was_said_when_it_was_said(researcher):
    outside, config, spoken = researcher
    workdir = outside / "run"
    workdir.mkdir()
    target = "results/hume_vidmimic2/index/transcripts.parquet"
    result = snakemake(workdir, target, configs=[config])
    assert result.returncode == 0, result.stderr[-5000:]
    transcripts = pl.read_parquet(workdir / target)
    assert transcripts.columns == ["subject", "start", "end", "text"]
    for video, words in spoken.items():
        chunks = transcripts.filter(pl.col("subject") == video)
        said = " ".join(chunks["text"])
        assert heard_words(said, words) >= 0.6, said
        assert chunks["start"].min() >= 0.9, chunks  # the recording begins one second into the track
    log = (workdir / "logs" / "transcribe_speech" / "hume_vidmimic2.log").read_text()
    assert "x real time" in log

"""Speech recognition with the English model the pocketsphinx wheel ships, on read speech (tests/support/speech.py)."""

import numpy as np
import pytest
from support.speech import SPEECH, SPEECH_FOLDER, heard_words

from abawflow.core.errors import ConfigError
from abawflow.stage_one.audio_stage import read_audio
from abawflow.stage_one.speech_recognition import (
    SAMPLE_RATE,
    SpeechRecognitionError,
    check_recognizer,
    create_recognizer,
)

SETTINGS = {"engine": "pocketsphinx", "model_folder": "", "language": "en", "padding_seconds": 0.3}


@pytest.fixture(scope="module")
def recognizer():
    return create_recognizer(SETTINGS)


def speech(name, before=1.0, after=1.0):
    """A recording with ``before`` and ``after`` seconds of quiet room noise around it."""
    samples = read_audio(SPEECH_FOLDER / f"{name}.wav", SAMPLE_RATE)
    noise = np.random.default_rng(0).normal(0, 0.002, int((before + after) * SAMPLE_RATE)).astype(np.float32)
    start = int(before * SAMPLE_RATE)
    return np.concatenate([noise[:start], samples, noise[start:]]), len(samples) / SAMPLE_RATE


@pytest.mark.parametrize("name", SPEECH)
def test_read_speech_becomes_a_chunk_with_its_words_and_times(recognizer, name):
    track, duration = speech(name)
    chunks = recognizer(track)
    assert len(chunks) == 1, chunks
    start, end, text = chunks[0]
    assert heard_words(text, SPEECH[name]) >= 0.6, text  # a weak recognizer: most words, not all
    assert 1.0 <= start <= 1.6 and 1.0 + duration - 0.8 <= end <= 1.0 + duration + 0.3, (start, end, duration)


def test_two_utterances_are_two_chunks_in_order(recognizer):
    first, first_duration = speech("ill_disposed", after=1.5)
    second, _ = speech("cold_hearted", before=0.5)
    chunks = recognizer(np.concatenate([first, second]))
    assert len(chunks) == 2, chunks
    assert chunks[0][1] < chunks[1][0] and chunks[1][0] >= 1.0 + first_duration
    assert "young man" in chunks[0][2] and "cold hearted" in chunks[1][2]


def test_silence_and_noise_say_nothing(recognizer):
    assert recognizer(np.zeros(3 * SAMPLE_RATE, np.float32)) == []
    assert recognizer(np.random.default_rng(1).normal(0, 0.002, 3 * SAMPLE_RATE).astype(np.float32)) == []


def test_a_video_is_heard_alike_whatever_was_heard_before(recognizer):
    track, _ = speech("ill_disposed")
    alone = create_recognizer(SETTINGS)(track)
    recognizer(speech("cold_hearted")[0])  # the cepstral mean would adapt to this one
    assert recognizer(track) == alone


def test_an_engine_that_cannot_run_is_refused_before_any_job():
    with pytest.raises(ConfigError, match="pocketsphinx ships a US English model only"):
        check_recognizer({**SETTINGS, "language": "fr"})
    whisper = {**SETTINGS, "engine": "faster_whisper", "model_folder": "/nowhere/whisper-small"}
    with pytest.raises(ConfigError, match="model_folder '/nowhere/whisper-small' holds no model.bin"):
        check_recognizer(whisper)


def test_faster_whisper_without_its_package_says_how_to_install_it(tmp_path):
    pytest.importorskip("pocketsphinx")
    try:
        import faster_whisper  # noqa: F401

        pytest.skip("faster-whisper is installed")
    except ImportError:
        pass
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(SpeechRecognitionError, match=r"pip install faster-whisper"):
        check_recognizer({**SETTINGS, "engine": "faster_whisper", "model_folder": str(tmp_path)})


def test_speech_running_to_the_end_of_the_track_is_heard(recognizer):
    track, _ = speech("cold_hearted", after=0.0)
    whole_frames = (len(track) - SAMPLE_RATE // 2) // 480 * 480  # cut mid-sentence, half a second before its end
    for end in (whole_frames, whole_frames - 7):  # on a whole 30 ms frame of the detector, or not
        chunks = recognizer(track[:end])
        assert len(chunks) == 1 and "cold hearted" in chunks[0][2], chunks

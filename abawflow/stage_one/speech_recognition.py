"""Speech recognition: what is said in each video's sound track, as transcript chunks ``(start, end, text)``
in seconds from the video's start, the rows the datasets' own transcripts give (abawflow/datasets/transcripts.py).
Rule transcribe_speech writes them for a dataset with sound whose config names no transcripts, so that text
backbones read it like BAH's shipped transcripts.

Engines, registered by name and built by ``create_recognizer``:

- ``pocketsphinx`` (the default): CMU PocketSphinx with the US English acoustic model, language model and
  dictionary its wheel ships, so it runs offline with nothing to download; CPU, deterministic. Its voice
  activity detector cuts the track into utterances; each is decoded on its own, padded by ``padding_seconds``
  of the track on both sides (the detector starts an utterance a little after its first sound), and becomes one
  chunk from its first word to its last.
- ``faster_whisper``: a Whisper model converted for CTranslate2, loaded from a local folder (``model_folder``)
  by the faster-whisper package; on the GPU when the run has one. Its segments become the chunks.
"""

import logging
import time
from pathlib import Path

import numpy as np

from abawflow.core.errors import AbawflowError, ConfigError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # both engines' models take 16 kHz mono


class SpeechRecognitionError(AbawflowError):
    """A speech-recognition engine that cannot be loaded or that fails on a sound track."""


class PocketSphinxRecognizer:
    """US English, the model in the pocketsphinx wheel; ``language`` must be English."""

    @staticmethod
    def check(settings):
        try:
            import pocketsphinx  # noqa: F401
        except ImportError:
            raise SpeechRecognitionError(
                "speech_recognition.engine pocketsphinx needs the pocketsphinx package (pip install pocketsphinx; "
                "its wheel ships the English model)"
            ) from None
        if settings["language"] not in ("en", "en-us", "english"):
            raise ConfigError(
                f"config: speech_recognition.language is {settings['language']!r}, but pocketsphinx ships a US "
                "English model only; use engine faster_whisper with a local multilingual Whisper model folder"
            )

    def __init__(self, settings, device):
        self.check(settings)
        from pocketsphinx import Decoder

        self.padding = settings["padding_seconds"]
        self.new_decoder = lambda: Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
        self.new_decoder()  # the model loads now, so that a damaged one fails before any video

    def __call__(self, samples):
        pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
        # A decoder per video (0.2 s): its cepstral mean adapts across utterances, and a video's words must not
        # depend on the videos decoded before it.
        decoder = self.new_decoder()
        chunks = []
        for utterance_start, utterance_end in utterances(pcm):
            first = max(0, int((utterance_start - self.padding) * SAMPLE_RATE))
            last = min(len(pcm), int((utterance_end + self.padding) * SAMPLE_RATE))
            decoder.start_utt()
            decoder.process_raw(pcm[first:last].tobytes(), full_utt=True)
            decoder.end_utt()
            # Fillers (<s>, </s>, <sil>, [NOISE]) and alternative pronunciations ("read(2)") are not words.
            spoken = [
                (segment.start_frame, segment.end_frame, segment.word.split("(")[0])
                for segment in decoder.seg()
                if not segment.word.startswith(("<", "["))
            ]
            if spoken:
                frame_seconds = 1.0 / 100  # the acoustic model's frame rate
                offset = first / SAMPLE_RATE
                start = offset + spoken[0][0] * frame_seconds
                end = offset + (spoken[-1][1] + 1) * frame_seconds
                chunks.append((round(start, 3), round(end, 3), " ".join(word for _, _, word in spoken)))
        return chunks


def utterances(pcm):
    """(start, end) in seconds of each stretch of speech that pocketsphinx's voice activity detector finds in 16-bit
    samples, the strictest mode (the looser ones take steady background noise for speech). Its own Segmenter
    drops an utterance still going when the track ends on a whole frame; this loop ends it."""
    from pocketsphinx import Endpointer, Vad

    endpointer = Endpointer(vad_mode=Vad.STRICT, sample_rate=SAMPLE_RATE)
    data, size, found = pcm.tobytes(), endpointer.frame_bytes, []
    for offset in range(0, len(data), size):
        frame = data[offset : offset + size]
        speech = endpointer.process(frame) if len(frame) == size else endpointer.end_stream(frame)
        if speech is not None and not endpointer.in_speech:
            found.append((endpointer.speech_start, endpointer.speech_end))
    if endpointer.in_speech:
        endpointer.end_stream(bytes(2))  # one silent sample: it takes no empty frame
        found.append((endpointer.speech_start, endpointer.speech_end))
    return found


class FasterWhisperRecognizer:
    """A local CTranslate2 Whisper folder (model.bin, config.json, tokenizer.json, vocabulary.*)."""

    @staticmethod
    def check(settings):
        folder = Path(settings["model_folder"]).expanduser()
        if not settings["model_folder"] or not (folder / "model.bin").is_file():
            raise ConfigError(
                f"config: speech_recognition.model_folder {settings['model_folder']!r} holds no model.bin; engine "
                "faster_whisper loads a Whisper model converted for CTranslate2 from a local folder "
                "(ct2-transformers-converter --model openai/whisper-small --output_dir <folder>)"
            )
        try:
            import faster_whisper  # noqa: F401
        except ImportError:
            raise SpeechRecognitionError(
                "speech_recognition.engine faster_whisper needs the faster-whisper package (pip install faster-whisper)"
            ) from None

    def __init__(self, settings, device):
        self.check(settings)
        from faster_whisper import WhisperModel

        folder = Path(settings["model_folder"]).expanduser()
        self.language = settings["language"] or None
        self.model = WhisperModel(str(folder), device="cuda" if device.startswith("cuda") else "cpu")

    def __call__(self, samples):
        segments, _ = self.model.transcribe(samples, language=self.language, vad_filter=True, beam_size=5)
        return [
            (round(segment.start, 3), round(segment.end, 3), segment.text.strip())
            for segment in segments
            if segment.text.strip()
        ]


RECOGNIZERS = {"pocketsphinx": PocketSphinxRecognizer, "faster_whisper": FasterWhisperRecognizer}


def check_recognizer(settings):
    """Whether the engine can load (its package, model folder and language), without loading its model."""
    RECOGNIZERS[settings["engine"]].check(settings)


def create_recognizer(settings, device="cpu"):
    """The engine ``settings["engine"]`` names (the config's ``speech_recognition`` section)."""
    return RECOGNIZERS[settings["engine"]](settings, device)


def transcribe_sound_tracks(subjects, root, recognizer):
    """One row per spoken chunk of every subject's video, (subject, start, end, text), as a dataset's transcript
    reader gives them: each video's sound (its dataset's sound file where the index names one) is decoded once
    and recognized, and its chunks are every subject's of that video."""
    import polars as pl

    from abawflow.core.progress import Progress
    from abawflow.stage_one.audio_stage import read_audio, sound_sources

    sources = sound_sources(subjects, root)
    progress = Progress(log, "speech recognition", len(sources), "videos")
    rows, seconds, started = [], 0.0, time.perf_counter()
    for source in sources.values():
        samples = read_audio(source["path"], SAMPLE_RATE)
        seconds += len(samples) / SAMPLE_RATE
        try:
            chunks = recognizer(samples)
        except (RuntimeError, ValueError) as error:
            raise SpeechRecognitionError(f"{source['path']}: speech recognition failed ({error})") from None
        rows += [(subject, *chunk) for subject, _person in source["subjects"] for chunk in chunks]
        progress.advance(1)
    progress.finish()
    elapsed = time.perf_counter() - started
    log.info("%.0f s of sound -> %d chunks in %.1f s (%.1fx real time)", seconds, len(rows), elapsed, seconds / elapsed)
    return pl.DataFrame(
        rows, schema={"subject": pl.String, "start": pl.Float64, "end": pl.Float64, "text": pl.String}, orient="row"
    )

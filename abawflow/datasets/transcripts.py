"""Whisper-style transcripts, as BAH ships them and as EMI teams make their own: a YAML mapping with ``text``
and ``chunks`` of ``{text, timestamp: [start, end]}`` in seconds. The timestamps restart at every window
Whisper cut the sound into (about 30 s), so a chunk's time is its window's start plus its own."""

from pathlib import Path

import yaml

from abawflow.core.errors import AnnotationFormatError, DatasetLayoutError


def read_transcript(path, window_seconds=30.0):
    """(text, chunks) of a Whisper transcript; chunks are (start, end, text) in seconds from the video's
    start: each time the timestamps go back, Whisper began a new window of ``window_seconds``. A chunk
    without an end (Whisper's last one may have none) ends where it starts."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise DatasetLayoutError(f"{path}: the transcript is missing") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise AnnotationFormatError(f"{path}{where}: not a YAML transcript ({problem})") from None
    if not isinstance(document, dict) or not isinstance(document.get("text"), str):
        raise AnnotationFormatError(f"{path}: expected a mapping with `text` (and `chunks`), as Whisper writes it")
    chunks, window, previous = [], 0, None
    for index, chunk in enumerate(document.get("chunks") or []):
        where = f"{path}: chunks[{index}]"
        stamp = chunk.get("timestamp") if isinstance(chunk, dict) else None
        if not isinstance(stamp, list | tuple) or len(stamp) != 2 or not isinstance(stamp[0], int | float):
            raise AnnotationFormatError(f"{where}: expected timestamp [start, end] in seconds, got {stamp!r}")
        start, end = float(stamp[0]), float(stamp[1]) if isinstance(stamp[1], int | float) else float(stamp[0])
        if end < start:
            raise AnnotationFormatError(f"{where}: timestamp [{start:g}, {end:g}] ends before it starts")
        if previous is not None and start < previous:
            window += 1
        previous = start
        offset = window * window_seconds
        chunks.append((offset + start, offset + end, str(chunk.get("text", "")).strip()))
    return document["text"].strip(), chunks


def transcripts_table(subjects, path_of, window_seconds):
    """One row per spoken chunk of every subject's video: (subject, start, end, text), times in seconds from the
    video's start; ``path_of(subject, video)`` is its transcript file. A transcript without chunks is one chunk
    covering the whole video."""
    import polars as pl

    rows = []
    for subject, video in subjects.select("subject", "video").rows():
        text, chunks = read_transcript(path_of(subject, video), window_seconds)
        rows += [(subject, start, end, words) for start, end, words in chunks or [(0.0, float("inf"), text)]]
    return pl.DataFrame(
        rows, schema={"subject": pl.String, "start": pl.Float64, "end": pl.Float64, "text": pl.String}, orient="row"
    )

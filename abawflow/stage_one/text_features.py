"""Text as a modality. Rule extract_text_features writes a text backbone's table with the rows of every other
feature table (every frame of every person-video). Extractors, registered by name:

- ``hashed_words``, weight-free: a signed hashed bag of words and word pairs (the feature hashing of Weinberger
  et al. 2009), which needs no vocabulary, no download and no training, so it always runs offline. It is the
  control that learned sentence embeddings are compared with.
- ``model2vec``: a static sentence-embedding model (model2vec's format: ``model.safetensors`` with the token
  embeddings, ``tokenizer.json``, ``config.json``) loaded from a local folder by the model2vec package; a text
  is the mean of its tokens' embeddings, normalised where the model's config says so.
- ``sentence_transformers``: a sentence-transformers model folder (``modules.json`` and its modules: a
  Transformer, its pooling, maybe a dense layer), loaded by the sentence-transformers package and run on the
  CPU (a video's transcript is a few sentences).

Words are lower-cased runs of letters, digits and apostrophes. Each word and each pair of neighbouring words
is hashed (BLAKE2b, so the same text gives the same features in every process, unlike Python's salted
``hash``) to one of ``width`` columns with a sign; counts are damped by log(1 + n) and each row is scaled to
unit length, so a long answer and a short one weigh alike.
"""

import hashlib
import logging
import re
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

WORD = re.compile(r"[\w']+")


def words(text):
    return [word.strip("'") for word in WORD.findall(text.lower()) if word.strip("'")]


def _column_and_sign(term, width):
    digest = int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little")
    return digest % width, 1.0 if (digest >> 63) & 1 else -1.0


def hashed_bag_of_words(texts, width=256, pairs=True):
    """(len(texts), width) float32: one row per text; an empty text gives a row of zeros."""
    if width < 2:
        raise ValueError(f"hashed bag of words: width must be at least 2, got {width}")
    rows = np.zeros((len(texts), width), dtype=np.float64)
    for row, text in enumerate(texts):
        tokens = words(text)
        terms = tokens + ([f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)] if pairs else [])
        counts = np.zeros(width)
        for term in terms:
            column, sign = _column_and_sign(term, width)
            counts[column] += sign
        damped = np.sign(counts) * np.log1p(np.abs(counts))
        norm = np.linalg.norm(damped)
        rows[row] = damped / norm if norm else damped
    return rows.astype(np.float32)


def frame_texts(chunks, frame_times, window_seconds=4.0):
    """The words heard around each frame: the text of every chunk ``(start, end, text)`` (seconds, absolute)
    that overlaps ``[t - window/2, t + window/2]`` for frame time ``t``, in spoken order."""
    half = window_seconds / 2
    ordered = sorted(chunks, key=lambda chunk: chunk[0])
    return [
        " ".join(text for start, end, text in ordered if start <= time + half and end >= time - half)
        for time in frame_times
    ]


def hashed_words(options):
    return lambda texts: hashed_bag_of_words(texts, options["width"], options["pairs"])


def load_model2vec(options):
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(options["model_folder"])
    # One process: the package's worker pool (above 10,000 texts) would add nothing to a cheap lookup.
    return lambda texts: model.encode(list(texts), use_multiprocessing=False).astype(np.float32)


def load_sentence_transformer(options):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(options["model_folder"]), device="cpu", local_files_only=True)
    return lambda texts: model.encode(list(texts), batch_size=64, convert_to_numpy=True).astype(np.float32)


EXTRACTORS = {
    "hashed_words": hashed_words,
    "model2vec": load_model2vec,
    "sentence_transformers": load_sentence_transformer,
}


# A sentence-transformers pooling module's modes: each enabled one adds the token embedding's width.
POOLING_MODES = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken")


def sentence_transformers_width(folder):
    """The embedding width of a sentence-transformers folder, from its modules' configs (nothing is loaded):
    the last dense layer's output, else the pooling's width times its modes; None where the configs do not
    say (the job then checks the width it gets)."""
    import json

    folder = Path(folder)
    width = None
    for module in json.loads((folder / "modules.json").read_text()):
        config = folder / module.get("path", "") / "config.json"
        kind = module.get("type", "")
        if kind.endswith("Pooling") and config.is_file():
            pooling = json.loads(config.read_text())
            if "pooling_mode" in pooling:  # sentence-transformers 6: one mode's name, or a list of them
                named = pooling["pooling_mode"]
                modes = len(named) if isinstance(named, list) else 1
            else:
                modes = sum(bool(pooling.get(f"pooling_mode_{mode}")) for mode in POOLING_MODES)
            token_width = pooling.get("embedding_dimension", pooling.get("word_embedding_dimension"))
            width = token_width * max(modes, 1) if token_width else None
        elif kind.endswith("Dense") and config.is_file():
            width = json.loads(config.read_text()).get("out_features")
    return width


def model2vec_width(folder):
    """The embedding width of a model2vec folder, from its weights file's header (nothing is loaded)."""
    from safetensors import safe_open

    with safe_open(str(Path(folder) / "model.safetensors"), "np") as weights:
        return weights.get_slice("embeddings").get_shape()[1]


def frame_times(frames, fps):
    """The middle of each frame's display interval, in seconds (frames 1..frames)."""
    return (np.arange(frames) + 0.5) / fps


def extract_text_features(subjects, transcripts, spec, output_path):
    """Write a text backbone's feature table: for every frame of every subject, the features of the words said
    around it (``scope: frame``, ``window_seconds`` wide) or of its whole transcript (``scope: video``).
    ``face_found`` is true for every frame: each has its text, possibly empty (a row of zeros)."""
    import pyarrow.parquet as pq

    from abawflow.core.atomic import atomic_path
    from abawflow.core.errors import ModelLoadError
    from abawflow.stage_one.face_table import every_frame_table, feature_schema

    options = spec["text"]
    width = spec["output_width"]
    extractor = EXTRACTORS[spec["extractor"]](options)
    schema = feature_schema(width)
    chunks = {
        subject[0]: list(rows.select("start", "end", "text").iter_rows())
        for subject, rows in transcripts.group_by("subject", maintain_order=True)
    }
    cache = {}
    with atomic_path(output_path) as temporary, pq.ParquetWriter(temporary, schema, compression="zstd") as writer:
        for row in subjects.iter_rows(named=True):
            said = chunks.get(row["subject"], [])
            if options["scope"] == "video":
                texts = [" ".join(text for _, _, text in sorted(said))] * row["frames"]
            else:
                texts = frame_texts(said, frame_times(row["frames"], row["fps"]), options["window_seconds"])
            missing = sorted(set(texts) - set(cache))
            if missing:
                rows = extractor(missing)
                rows[[k for k, text in enumerate(missing) if not text.strip()]] = 0  # nothing said: zeros
                if rows.shape[1] != width:
                    raise ModelLoadError(
                        f"{spec['extractor']} gives {rows.shape[1]} features, but the backbone's output_width is "
                        f"{width}; set output_width to {rows.shape[1]}"
                    )
                cache.update(zip(missing, rows, strict=True))
            features = np.stack([cache[text] for text in texts]) if texts else np.zeros((0, width), np.float32)
            writer.write_table(every_frame_table(schema, row["subject"], row["video"], row["person"], features))
    log.info("%d subjects -> %d-d text features (%d distinct texts)", subjects.height, width, len(cache))

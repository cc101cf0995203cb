"""Read speech for the speech-recognition tests: two LibriVox recordings (public domain) from pocketsphinx's own
test data, in tests/fixtures/speech, with their reference transcripts."""

from pathlib import Path

from abawflow.stage_one.text_features import words

SPEECH_FOLDER = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
SPEECH = {
    "ill_disposed": "he was not an ill disposed young man",
    "cold_hearted": "unless to be rather cold hearted and rather selfish is to be ill disposed",
}


def heard_words(text, reference):
    """The share of the reference's distinct words that the recognized text holds."""
    expected = set(words(reference))
    return len(expected & set(words(text))) / len(expected)

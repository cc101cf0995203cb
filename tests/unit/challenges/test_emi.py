"""The EMI challenge (Hume-Vidmimic2): its task, loss, score and submission file."""

import numpy as np
import polars as pl
import pytest
import torch

from abawflow.challenges.per_video import write_video_submission
from abawflow.challenges.registry import get_challenge
from abawflow.challenges.submission import prediction_table
from abawflow.core.errors import SubmissionError
from abawflow.tasks.metrics import mean_pearson
from abawflow.tasks.specs import MIMICRY_EMOTIONS, get_task
from models.losses import create_loss

pytestmark = pytest.mark.unit


def emi_predictions(split, values_by_subject, frames=4):
    return pl.concat(
        prediction_table(
            "emi", subject, split, np.arange(1, frames + 1), np.ones(frames, bool), np.tile(values, (frames, 1))
        )
        for subject, values in values_by_subject.items()
    )


def test_the_task_is_six_intensities_per_video_with_a_plain_sigmoid_loss():
    spec = get_task("emi")
    assert spec.label_columns == MIMICRY_EMOTIONS and "Empathic Pain" in spec.header
    assert spec.granularity == "video" and spec.head_size == 6 and spec.loss == "sigmoid_mse"
    assert spec.validate_row([0, 0.5, 1, 0, 0, 1 / 3]) is None
    assert "[0, 1]" in spec.validate_row([0, 1.5, 0, 0, 0, 0])
    # Most EMI videos are labelled all 0: the loss of outputs matching such labels is ~0 (ERI's top-class term
    # would push one emotion up), and it decreases as the sigmoid outputs approach the targets.
    loss = create_loss("sigmoid_mse")
    targets, mask = torch.zeros(3, 6), torch.ones(3, dtype=torch.bool)
    assert loss(torch.full((3, 6), -12.0), targets, mask) < 1e-9
    assert loss(torch.zeros(3, 6), targets, mask) == pytest.approx(0.25)
    outputs = torch.zeros(3, 6, requires_grad=True)
    loss(outputs, targets, mask).backward()
    assert (outputs.grad > 0).all()


def test_the_challenge_scores_the_mean_pearson_over_videos():
    rng = np.random.default_rng(1)
    truth = {f"{k:05d}": rng.choice([0, 1 / 3, 0.5, 1], size=6) for k in range(10)}
    labels = pl.DataFrame(
        {
            "subject": list(truth),
            "annotated": [True] * 10,
            **{e: [v[k] for v in truth.values()] for k, e in enumerate(MIMICRY_EMOTIONS)},
        }
    )
    predicted = {s: np.clip(v + 0.1 * rng.standard_normal(6), 0, 1) for s, v in truth.items()}
    scores, frames, videos = get_challenge("emi").score({"emi": labels}, emi_predictions("validation", predicted))
    expected = mean_pearson(np.stack(list(truth.values())), np.stack(list(predicted.values())))
    assert scores["score"] == pytest.approx(expected, rel=1e-4) and videos == 10 and frames == 40
    assert set(scores) == {f"pearson_{e}" for e in MIMICRY_EMOTIONS} | {"score"}


def test_the_submission_keeps_padded_ids_unbracketed_in_index_order(tmp_path):
    index = pl.DataFrame({"task": ["emi"] * 3, "subject": ["00020", "00021", "00107"], "split": ["test"] * 3})
    values = {"00107": np.full(6, 0.5), "00020": np.linspace(0, 1, 6), "00021": np.full(6, 0.9)}
    path = tmp_path / "emi.csv"
    write_video_submission(get_challenge("emi"), emi_predictions("test", values), index, path)
    lines = path.read_text().splitlines()
    assert lines[0] == "Filename,Admiration,Amusement,Determination,Empathic Pain,Excitement,Joy"
    assert [line.split(",")[0] for line in lines[1:]] == ["00020", "00021", "00107"]
    assert lines[1] == "00020,0.000000,0.200000,0.400000,0.600000,0.800000,1.000000"
    with pytest.raises(SubmissionError, match="1 of the 3 EMI test videos have no prediction \\(first: 00021\\)"):
        write_video_submission(
            get_challenge("emi"),
            emi_predictions("test", {k: v for k, v in values.items() if k != "00021"}),
            index,
            path,
        )
    broken = {**values, "00107": np.full(6, 1.2)}  # outside the sigmoid's range: a damaged table
    with pytest.raises(SubmissionError, match="predicted_Admiration is 1.2"):
        write_video_submission(get_challenge("emi"), emi_predictions("test", broken), index, tmp_path / "other.csv")
    assert not (tmp_path / "other.csv").exists()

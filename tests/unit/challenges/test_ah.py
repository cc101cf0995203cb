"""The A/H challenge (BAH): a 0/1 per video, macro F1 over both classes with the threshold chosen on the
validation videos, the positive class's average precision, and the trial file."""

import numpy as np
import polars as pl
import pytest

from abawflow.challenges.per_video import write_trial_submission
from abawflow.challenges.registry import get_challenge
from abawflow.challenges.submission import prediction_table
from abawflow.predict.postprocessing import postprocess
from abawflow.tasks.metrics import average_precision, macro_f1
from abawflow.tasks.specs import get_task

pytestmark = pytest.mark.unit

VIDEOS = ["Videos/P09/Visite_1/P09_Question_2_2024 03 01_Video.mp4", "Videos/P09/a.mp4", "Videos/P10/b.mp4"]


def ah_predictions(split, probabilities, frames=3):
    return pl.concat(
        prediction_table("ah", subject, split, np.arange(1, frames + 1), np.ones(frames, bool), np.full((frames, 1), p))
        for subject, p in probabilities.items()
    )


def test_average_precision_ranks_ties_together():
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx((1 + 2 / 3) / 2)
    # Tied scores form one step: the precision of the whole group (scikit-learn's value).
    assert average_precision([1, 0, 1], [0.5, 0.5, 0.2]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert average_precision([0, 0], [0.3, 0.1]) == 0.0


def test_the_task_scores_macro_f1_over_both_classes_and_reports_average_precision():
    spec = get_task("ah")
    assert spec.granularity == "video" and spec.head_size == 1 and spec.loss == "bce_with_logits"
    assert spec.validate_row([1.0]) is None and "expected 0 or 1" in spec.validate_row([0.5])
    labels, values = np.array([[1], [0], [1], [0], [0]]), np.array([[0.7], [0.6], [0.4], [0.1], [0.2]])
    scores = spec.score_outputs(labels, values, 0.5)
    decided = np.array([1, 1, 0, 0, 0])
    assert scores["score"] == pytest.approx(macro_f1(labels[:, 0], decided, 2))
    assert scores["average_precision"] == pytest.approx(average_precision(labels[:, 0], values[:, 0]))
    lower = spec.score_outputs(labels, values, 0.35)["score"]
    assert lower == pytest.approx(macro_f1(labels[:, 0], np.array([1, 1, 1, 0, 0]), 2)) and lower != scores["score"]


def test_the_threshold_is_chosen_on_the_validation_videos_and_travels_with_the_table():
    validation = {"v1": 0.30, "v2": 0.35, "v3": 0.20, "v4": 0.10}  # positives scored above 0.25, below 0.5
    labels = pl.DataFrame(
        {"subject": list(validation), "annotated": [True] * 4, "ambivalence_hesitancy": [1.0, 1.0, 0.0, 0.0]}
    )
    table = pl.concat([ah_predictions("validation", validation), ah_predictions("test", {"t1": 0.32})])
    tuned = postprocess("ah", table, {}, labels)
    threshold = tuned["threshold_ambivalence_hesitancy"][0]
    assert 0.2 < threshold <= 0.3 + 1e-6  # every validation video right; of the equal choices, the one nearest 0.5
    scores, _, videos = get_challenge("ah").score({"ah": labels}, tuned.filter(pl.col("split") == "validation"))
    assert scores["score"] == 1.0 and videos == 4


def test_the_trial_file_lists_the_test_videos_in_order_with_or_without_probabilities(tmp_path):
    index = pl.DataFrame({"task": ["ah"] * 3, "subject": VIDEOS, "split": ["test"] * 3})
    table = ah_predictions("test", {VIDEOS[2]: 0.9, VIDEOS[0]: 0.25, VIDEOS[1]: 0.5}).with_columns(
        pl.lit(0.3, dtype=pl.Float32).alias("threshold_ambivalence_hesitancy")
    )
    path = tmp_path / "ah.txt"
    write_trial_submission(get_challenge("ah"), table, index, path)
    assert path.read_text().splitlines() == [
        f"{VIDEOS[0]},0.750000,0.250000,0",
        f"{VIDEOS[1]},0.500000,0.500000,1",
        f"{VIDEOS[2]},0.100000,0.900000,1",
    ]
    get_challenge("ah").write_submission(table, index, path, settings={"submission_probabilities": False})
    assert path.read_text().splitlines() == [f"{VIDEOS[0]},0", f"{VIDEOS[1]},1", f"{VIDEOS[2]},1"]

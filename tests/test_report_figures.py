"""The run report's figures and tables, drawn from hand-made pipeline outputs."""

import numpy as np
import polars as pl
from PIL import Image
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

from abawflow.report_figures import face_detection_rates, learning_curves, score_table_html
from abawflow.tasks import get_task
from abawflow.validation_figures import (
    action_unit_scores,
    confusion_counts,
    confusion_matrix,
    va_over_time,
    validation_rows,
)


def is_png(path, minimum_width=300):
    image = Image.open(path)
    return image.format == "PNG" and image.width >= minimum_width and np.asarray(image.convert("L")).std() > 5


def test_confusion_counts_equal_scikit_learn():
    rng = np.random.default_rng(0)
    truth, decided = rng.integers(0, 8, 500), rng.integers(0, 8, 500)
    assert np.array_equal(
        confusion_counts(truth, decided, 8), sklearn_confusion_matrix(truth, decided, labels=range(8))
    )


def predictions_and_labels(task, rng):
    spec = get_task(task)
    frames = np.arange(1, 41)
    subjects = ["a"] * 40 + ["b"] * 40
    split = ["validation"] * 40 + ["test"] * 40
    values = rng.random((80, len(spec.output_columns))).astype(np.float32)
    predictions = pl.DataFrame({"subject": subjects, "split": split, "frame": np.tile(frames, 2), "face_found": True})
    predictions = predictions.with_columns(pl.Series(c, values[:, k]) for k, c in enumerate(spec.output_columns))
    labels = pl.DataFrame({"subject": ["a"] * 40, "frame": frames, "annotated": frames % 5 != 0})
    if task == "expr":
        labels = labels.with_columns(pl.Series("expression", rng.integers(0, 8, 40)))
    else:
        truth = rng.integers(0, 2, (40, spec.head_size)) if task == "au" else rng.uniform(-1, 1, (40, 2))
        labels = labels.with_columns(pl.Series(c, truth[:, k]) for k, c in enumerate(spec.label_columns))
    return predictions, labels


def test_validation_rows_are_the_annotated_validation_frames():
    predictions, labels = predictions_and_labels("va", np.random.default_rng(1))
    rows = validation_rows(predictions, labels)
    assert rows["subject"].unique().to_list() == ["a"]  # the test video has no labels and is not scored
    assert rows["frame"].to_list() == [f for f in range(1, 41) if f % 5 != 0]


def test_every_figure_is_drawn(tmp_path):
    rng = np.random.default_rng(2)
    for task, draw in (("va", va_over_time), ("expr", confusion_matrix), ("au", action_unit_scores)):
        predictions, labels = predictions_and_labels(task, rng)
        draw(predictions, labels, tmp_path / f"{task}.png", "an_experiment")
        assert is_png(tmp_path / f"{task}.png"), task
    histories = []
    for seed in (0, 1):
        path = tmp_path / "models" / "transformer" / "va" / f"fold0_seed{seed}" / "history.csv"
        path.parent.mkdir(parents=True)
        pl.DataFrame(
            {"epoch": [1, 2, 3], "train_loss": [0.9, 0.5, 0.4], "validation_score": [0.2, 0.4, 0.5]}
        ).write_csv(path)
        histories.append(path)
    learning_curves(histories, tmp_path / "curves.png", "transformer")
    assert is_png(tmp_path / "curves.png")
    faces = tmp_path / "faces.parquet"
    pl.DataFrame({"subject": ["a"] * 10 + ["b"] * 10, "face_found": [True] * 15 + [False] * 5}).write_parquet(faces)
    face_detection_rates([faces], tmp_path / "faces.png", "aff_wild2")
    assert is_png(tmp_path / "faces.png")


def test_score_table_html_holds_every_row(tmp_path):
    scores = tmp_path / "va.csv"
    pl.DataFrame({"experiment": ["gru", "<b>odd</b>"], "inputs": ["V", "A+V"], "score": [0.51234, 0.7]}).write_csv(
        scores
    )
    score_table_html(scores, tmp_path / "va.html", "VA: validation scores")
    page = (tmp_path / "va.html").read_text()
    assert "<td>gru</td>" in page and "<td>0.5123</td>" in page and "<td>0.7000</td>" in page
    assert "&lt;b&gt;odd&lt;/b&gt;" in page  # names are escaped


def test_figures_of_a_validation_set_without_annotated_frames(tmp_path):
    """Nothing to score still gives each figure (saying so), not a crash of the run."""
    rng = np.random.default_rng(3)
    for task, draw in (("va", va_over_time), ("expr", confusion_matrix), ("au", action_unit_scores)):
        predictions, labels = predictions_and_labels(task, rng)
        draw(predictions, labels.with_columns(annotated=False), tmp_path / f"{task}.png", "an_experiment")
        assert Image.open(tmp_path / f"{task}.png").format == "PNG", task

"""The run report's figures and tables, drawn from hand-made pipeline outputs."""

import re

import numpy as np
import polars as pl
from PIL import Image
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

from abawflow.report.figures import (
    face_detection_rates,
    learning_curves,
    report_description,
    runtime_table_html,
    score_table_html,
)
from abawflow.report.validation_figures import (
    action_unit_scores,
    confusion_counts,
    confusion_matrix,
    va_over_time,
    validation_rows,
)
from abawflow.tasks.specs import get_task


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
    score_table_html(scores, tmp_path / "va.html", "VA: validation scores", submitted="gru")
    page = (tmp_path / "va.html").read_text()
    assert "<td>gru (submitted)</td>" in page and "<td>0.5123</td>" in page and "<td>0.7000</td>" in page
    assert "&lt;b&gt;odd&lt;/b&gt;" in page  # names are escaped


def test_the_report_opens_on_the_score_tables_with_the_submitted_entry_marked(tmp_path):
    from docutils.core import publish_parts

    tables = {}
    for challenge, rows in {
        "va": [("gru", "V", 0.5), ("ensemble", "mean of 2", 0.61)],
        "eri": [("av", "A+V", 0.3)],
    }.items():
        tables[challenge] = tmp_path / f"{challenge}.csv"
        pl.DataFrame(rows, schema=["experiment", "inputs", "score"], orient="row").write_csv(tables[challenge])
    text = report_description(tables, {"va": "ensemble", "eri": "av"}, "The workflow, described.")
    html = publish_parts(text, writer_name="html")["html_body"]  # as Snakemake renders the description
    assert html.index("VA") < html.index("ERI") < html.index("The workflow, described.")
    assert "<strong>ensemble</strong>" in html and "<strong>gru</strong>" not in html and "0.6100" in html
    assert html.count("<table") == 2 and "System Message" not in html


def test_figures_of_a_validation_set_without_annotated_frames(tmp_path):
    """Nothing to score still gives each figure (saying so), not a crash of the run."""
    rng = np.random.default_rng(3)
    for task, draw in (("va", va_over_time), ("expr", confusion_matrix), ("au", action_unit_scores)):
        predictions, labels = predictions_and_labels(task, rng)
        draw(predictions, labels.with_columns(annotated=False), tmp_path / f"{task}.png", "an_experiment")
        assert Image.open(tmp_path / f"{task}.png").format == "PNG", task


def test_runtime_table_sums_shards_and_runs_and_gives_rows_per_second(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    jobs = {
        "detect_and_align_faces/aff_wild2/shard0of2.tsv": ("10.0", "300.5", 400),
        "detect_and_align_faces/aff_wild2/shard1of2.tsv": ("30.0", "500.0", 200),
        "train_temporal_model/gru/va/fold0_seed0.tsv": ("5.0", "-", None),
        "train_temporal_model/gru/va/fold0_seed1.tsv": ("7.5", "120.0", None),
    }
    benchmarks, tables = [], {}
    for name, (seconds, memory, rows) in jobs.items():
        path = tmp_path / "logs" / "benchmarks" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + f"{seconds}\t0:00:10\t{memory}\t1\t1\t1\t0\t0\t50\t1\n")
        benchmarks.append(str(path))
        if rows:
            tables[str(path)] = tmp_path / f"{path.stem}.parquet"
            pl.DataFrame({"frame": range(rows)}).write_parquet(tables[str(path)])
    output = tmp_path / "runtimes.html"
    runtime_table_html(benchmarks, {k: str(v) for k, v in tables.items()}, output)
    text = output.read_text()
    cells = lambda rule: re.search(f"<tr><td>{rule}</td>(.*?)</tr>", text).group(1)  # noqa: E731
    assert re.findall(r"<td>([^<]*)</td>", cells("detect_and_align_faces")) == [
        "aff_wild2",
        "2",
        "40.0",
        "30.0",
        "500",
        "600",
        "15.0",
    ]
    assert re.findall(r"<td>([^<]*)</td>", cells("train_temporal_model")) == [
        "gru/va",
        "2",
        "12.5",
        "7.5",
        "120",
        "",
        "",
    ]
    assert "Runtimes of 4 jobs" in text

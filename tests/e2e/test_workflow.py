"""End-to-end runs of the Snakemake DAG on the tiny demo config (real decoding, detection, features, training)."""

import base64
import os
import re
import shutil
import subprocess

import numpy as np
import polars as pl
import pytest
from PIL import Image
from support.dag import CONFIGS, snakemake

from abawflow.tasks.specs import get_task
from abawflow.training.linear_probe import PENALTIES

pytestmark = pytest.mark.e2e


def run(workdir, *arguments, extra_config=()):
    return snakemake(workdir, *arguments, configs=[CONFIGS / "tiny.yaml", *extra_config])


def rules_run(text):
    """The rules of the jobs a Snakemake log or dry-run plan lists (not file names that mention a rule)."""
    return set(re.findall(r"^(?:local)?rule (\w+):", text, re.MULTILINE))


def metrics(workdir, experiment="transformer"):
    table = pl.read_csv(workdir / "results" / "metrics" / "validation.csv").filter(pl.col("experiment") == experiment)
    return {(task, metric): value for task, metric, value in table.select("task", "metric", "value").rows()}


def mtl_metrics(workdir, experiment="mtl_feedback"):
    table = pl.read_csv(workdir / "results" / "metrics" / "mtl.csv")
    return table.filter(pl.col("experiment") == experiment).row(0, named=True)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny_run")
    result = run(workdir, "submission")
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def test_submission_files_cover_every_test_frame_in_order(tiny_run):
    splits = pl.read_parquet(tiny_run / "results" / "aff_wild2" / "index" / "splits.parquet")
    faces = pl.read_parquet(
        tiny_run / "results" / "aff_wild2" / "faces" / "detected" / "shard0of1.parquet", columns=["subject", "frame"]
    )
    frame_counts = dict(faces.group_by("subject").agg(pl.len()).rows())
    for task in ("va", "expr", "au"):
        lines = (tiny_run / "results" / "submission" / f"{task}.txt").read_text().splitlines()
        assert lines[0] == ",".join(get_task(task).submission_header)
        names = splits.filter((pl.col("task") == task) & (pl.col("split") == "test"))["subject"].to_list()
        expected = [f"{name}/{frame:05d}.jpg" for name in names for frame in range(1, frame_counts[name] + 1)]
        assert [line.split(",")[0] for line in lines[1:]] == expected
        assert all(
            len(line.split(",")) == len(get_task(task).submission_header) - (7 if task == "expr" else 0)
            for line in lines[1:]
        )


def test_faces_were_found_and_aligned(tiny_run):
    faces = pl.read_parquet(tiny_run / "results" / "aff_wild2" / "faces" / "detected" / "shard0of1.parquet")
    found = faces["face_found"].mean()
    assert 0.8 < found < 1.0  # the demo hides faces for a stretch of every video
    assert faces.filter(pl.col("face_found"))["crop"].null_count() == 0
    # The two-person video: the _left subject's face is the left one whenever both are found.
    left = faces.filter(pl.col("subject").str.ends_with("_left") & pl.col("face_found"))
    right = faces.filter(pl.col("subject").str.ends_with("_right") & pl.col("face_found"))
    both = left.join(right, on="frame", suffix="_right")
    assert both.height > 100
    assert all(
        a[0] + a[2] < b[0] + b[2] for a, b in zip(both["box"].to_list(), both["box_right"].to_list(), strict=True)
    )
    features = pl.read_parquet(tiny_run / "results" / "aff_wild2" / "features" / "resnet18_random.parquet")
    assert features.height == faces.height
    assert features.columns == ["subject", "video", "person", "frame", "face_found", "feature"]
    assert set(features["person"].unique()) == {"single", "left", "right"}
    assert features.schema["feature"] == pl.Array(pl.Float32, 512)


EMBEDDED = re.compile(r'"(results/report/[^"]+)": \{"name".*?"data_uri": "data:([^;,]+)[^,]*;base64,([A-Za-z0-9+/=]+)"')


def browser():
    """Debian's Chromium, or a skip (a failure under .ci/run, which installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("ABAWFLOW_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return found


def test_the_report_holds_every_figure_and_score_table_and_renders(tiny_run):
    report = tiny_run / "report.html"
    result = run(tiny_run, "submission", "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    text = report.read_text()
    embedded = {path: (mime, base64.b64decode(data)) for path, mime, data in EMBEDDED.findall(text)}
    made = {str(p.relative_to(tiny_run)) for p in (tiny_run / "results" / "report").rglob("*") if p.is_file()}
    assert set(embedded) == made and len(made) > 20  # self-contained: every figure and table inside
    for path, (mime, data) in embedded.items():
        assert (mime, data[:4]) == ("image/png", b"\x89PNG") if path.endswith(".png") else mime == "text/html"
    scores = pl.read_csv(tiny_run / "results" / "metrics" / "va.csv")
    table = embedded["results/report/scores/va.html"][1].decode()
    for experiment, score in scores.select("experiment", "score").rows():
        name = f"{experiment} (submitted)" if experiment == "three_encoders" else experiment
        assert f"<td>{name}</td>" in table and f"<td>{score:.4f}</td>" in table
    assert "abawflow: from the videos and annotations" in text
    assert "align-items: flex-start" in text  # profiles/default/report.css: the first page starts at the top
    runtimes = embedded["results/report/runtimes.html"][1].decode()
    benchmarks = list((tiny_run / "logs" / "benchmarks").rglob("*.tsv"))
    assert len(benchmarks) > 60  # every job of the run wrote one
    for rule in ("detect_and_align_faces", "extract_features", "extract_audio_features", "train_temporal_model"):
        row = re.search(f"<tr><td>{rule}</td>(.*?)</tr>", runtimes)
        assert row, rule
    faces = re.findall(
        r"<td>([^<]*)</td>",
        re.search("<tr><td>detect_and_align_faces</td><td>aff_wild2</td>(.*?)</tr>", runtimes).group(1),
    )
    frames = pl.read_parquet(tiny_run / "results" / "aff_wild2" / "faces" / "detected" / "shard0of1.parquet").height
    assert faces[0] == "1" and int(faces[4]) == frames and float(faces[5]) > 0  # jobs, rows, rows/s

    chromium = browser()
    screenshot = tiny_run / "report.png"  # kept beside the run, the test's artifact
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,1000"]
    rendered = subprocess.run(
        [*common, "--virtual-time-budget=5000", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The first page: every challenge's score table, the submitted entry in bold, before the description.
    page = rendered.stdout
    assert page.index("Validation scores of this run") < page.index("abawflow: from the videos and annotations")
    for challenge, submitted in (
        ("VA", "three_encoders"),
        ("MTL", "mtl_feedback"),
        ("ERI", "eri_audio_visual_interaction"),
    ):
        assert f"<strong>{challenge}</strong>: submitted {submitted}" in page, challenge
        assert f"<strong>{submitted}</strong>" in page
    for words in (
        "abawflow: from the videos and annotations",
        "Learning curves",
        "Validation",
        "Scores",
        "Faces",
        "Runtimes",
    ):
        assert words in rendered.stdout, words
    subprocess.run(
        [*common, "--virtual-time-budget=5000", f"--screenshot={screenshot}", report.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = np.asarray(Image.open(screenshot).convert("L"))
    assert pixels.shape == (1000, 1400) and pixels.std() > 20  # not blank: text, the menu and the DAG drawn
    print(f"report screenshot: {screenshot}")


def test_nothing_left_to_do_after_a_complete_run(tiny_run):
    result = run(tiny_run, "submission", "--dry-run")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_scores_far_above_chance_and_chance_with_shuffled_labels(tiny_run):
    real = metrics(tiny_run)
    real_mtl = mtl_metrics(tiny_run)["score"]
    result = run(tiny_run, "submission", extra_config=[CONFIGS / "shuffled_labels.yaml"])
    assert result.returncode == 0, result.stderr[-5000:]
    shuffled = metrics(tiny_run)
    shuffled_mtl = mtl_metrics(tiny_run)["score"]
    # Back to the real labels before any check, so the later tests see the real run: the plan reruns
    # training and what follows, not the faces or features.
    plan = run(tiny_run, "submission", "--dry-run")
    text = plan.stdout + plan.stderr
    # Same config and seeds, features recomputed too: the same metrics.
    result = run(tiny_run, "submission", "--forcerun", "extract_features")
    assert result.returncode == 0, result.stderr[-5000:]
    assert metrics(tiny_run) == real
    assert "train_temporal_model" in rules_run(text)
    assert not rules_run(text) & {"detect_and_align_faces", "extract_features"}
    # Chance levels: CCC near 0 (three validation videos with smooth labels spread it); macro F1 of a
    # constant guess; AU F1 of predicting every AU present.
    labels = pl.read_parquet(tiny_run / "results" / "aff_wild2" / "index" / "labels_au.parquet").filter(
        pl.col("annotated")
    )
    prevalence = labels.select(get_task("au").label_columns).to_numpy().mean(axis=0)
    au_chance = float(np.mean(2 * prevalence / (1 + prevalence)))
    assert abs(shuffled[("va", "score")]) < 0.25
    assert shuffled[("expr", "score")] < 0.2
    assert shuffled[("au", "score")] < au_chance + 0.05
    assert real[("va", "score")] > 0.6
    assert real[("expr", "score")] > 0.5
    assert real[("au", "score")] > au_chance + 0.1
    # The MTL challenge trains on the shuffled labels too, and falls.
    assert shuffled_mtl < real_mtl - 0.5
    table = pl.read_csv(tiny_run / "results" / "metrics" / "va.csv")
    assert table.columns == ["experiment", "inputs", "ccc_valence", "ccc_arousal", "score", "frames", "videos"]
    assert "| three_encoders * |" in (tiny_run / "results" / "metrics" / "va.md").read_text()


def user_dataset(tiny_run, tmp_path):
    """A copy of the demo as a user's dataset (root, empty working directory, config layer naming it)."""
    import shutil

    root = tmp_path / "Aff-Wild2"
    shutil.copytree(tiny_run / "resources" / "demo", root, ignore=shutil.ignore_patterns("cropped_aligned"))
    user_config = tmp_path / "user.yaml"
    user_config.write_text(f"dataset:\n  root: {root}\n")
    workdir = tmp_path / "run"
    workdir.mkdir()
    return root, workdir, user_config


def test_a_dataset_linked_in_folder_by_folder_gives_the_same_submission(tiny_run, tmp_path):
    """Shared storage linked in: every batch folder of videos/, the annotation folder, the test lists and the
    crops are symbolic links into the demo; the VA submission is the tiny run's, byte for byte."""
    demo = tiny_run / "resources" / "demo"
    root = tmp_path / "linked"
    (root / "videos").mkdir(parents=True)
    for batch in (demo / "videos").iterdir():
        (root / "videos" / batch.name).symlink_to(batch, target_is_directory=batch.is_dir())
    for name in ("6th_ABAW_Annotations", "names_of_videos_in_each_test_set", "cropped_aligned"):
        (root / name).symlink_to(demo / name, target_is_directory=True)
    layer = tmp_path / "linked.yaml"
    layer.write_text(f"dataset: {{root: {root}}}\n")
    workdir = tmp_path / "run"
    workdir.mkdir()
    result = run(workdir, "results/submission/va.txt", extra_config=[layer])
    assert result.returncode == 0, result.stderr[-3000:]
    for path in ("results/submission/va.txt", "results/aff_wild2/index/splits.parquet"):
        assert (workdir / path).read_bytes() == (tiny_run / path).read_bytes(), path


def test_a_user_dataset_with_a_malformed_line_stops_with_file_and_line(tiny_run, tmp_path):
    root, workdir, user_config = user_dataset(tiny_run, tmp_path)
    broken = sorted((root / "6th_ABAW_Annotations" / "VA_Estimation_Challenge" / "Train_Set").glob("*.txt"))[0]
    lines = broken.read_text().splitlines()
    lines[4] = "0.2;0.3"
    broken.write_text("\n".join(lines) + "\n")
    result = run(workdir, "results/aff_wild2/index/splits.parquet", extra_config=[user_config])
    assert result.returncode != 0
    assert (
        f"{broken}, line 5: found 1 value(s) in '0.2;0.3'; expected 2 (valence,arousal)"
        in result.stdout + result.stderr
    )
    assert not (workdir / "results" / "aff_wild2" / "index" / "splits.parquet").exists()
    assert not (workdir / "resources").exists()  # a user dataset never triggers the demo generator


def test_a_truncated_test_video_stops_the_index_before_any_detection(tiny_run, tmp_path):
    """Half of a test video's bytes cut: the index names the file and the missing frames, and no face job runs."""
    root, workdir, user_config = user_dataset(tiny_run, tmp_path)
    tested = (root / "names_of_videos_in_each_test_set").glob("*.txt")
    names = {line.split("_left")[0].split("_right")[0] for path in tested for line in path.read_text().split()}
    video = next(path for path in sorted((root / "videos").rglob("*.*")) if path.stem in names)
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    result = run(workdir, "results/aff_wild2/faces/detected/shard0of1.parquet", extra_config=[user_config])
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert str(video) in output and ("frames but only" in output or "cannot open video" in output), output[-3000:]
    assert not (workdir / "results" / "aff_wild2" / "index" / "subjects.parquet").exists()
    assert not (workdir / "results" / "aff_wild2" / "faces").exists()


# Demo videos cut to one or two frames (annotations to as many lines), which between them are in a
# training, validation and test split of the three tasks.
SHORT_CLIPS = {"11-30-320x240": 1, "12-30-384x216": 2, "3-30-320x240": 1, "video7": 2}


def test_clips_of_one_or_two_frames_are_trained_on_validated_and_submitted(tiny_run, tmp_path):
    from support.videos import write_first_frames

    root, workdir, user_config = user_dataset(tiny_run, tmp_path)
    for name, count in SHORT_CLIPS.items():
        (video,) = (root / "videos").rglob(f"{name}.*")
        write_first_frames(video, video, count)
        for annotation in (root / "6th_ABAW_Annotations").rglob(f"{name}.txt"):
            annotation.write_text("\n".join(annotation.read_text().splitlines()[: 1 + count]) + "\n")
    result = snakemake(workdir, "submission", configs=[CONFIGS / "short_clips.yaml", user_config])
    assert result.returncode == 0, result.stderr[-5000:]
    splits = pl.read_parquet(workdir / "results" / "aff_wild2" / "index" / "splits.parquet")
    short = splits.filter(pl.col("subject").is_in(list(SHORT_CLIPS)))
    assert set(short["split"]) == {"train", "validation", "test"} and set(short["task"]) == {"va", "expr", "au"}
    features = pl.read_parquet(workdir / "results" / "aff_wild2" / "features" / "fer_mini_xception.parquet")
    for name, count in SHORT_CLIPS.items():
        rows = features.filter(pl.col("subject") == name).sort("frame")
        assert rows["frame"].to_list() == list(range(1, count + 1)) and rows["face_found"].all(), name
    for task, split, name in short.filter(pl.col("split") != "train").select("task", "split", "subject").rows():
        count = SHORT_CLIPS[name]
        predicted = pl.read_parquet(workdir / "results" / "predictions" / task / "all_three.parquet")
        rows = predicted.filter(pl.col("subject") == name).sort("frame")
        assert rows["frame"].to_list() == list(range(1, count + 1)), (task, name)
        output = rows.select(get_task(task).output_columns).to_numpy()
        assert np.isfinite(output).all(), (task, name)
        if split == "test":
            lines = (workdir / "results" / "submission" / f"{task}.txt").read_text().splitlines()
            assert [line.split(",")[0] for line in lines if line.startswith(f"{name}/")] == [
                f"{name}/{frame:05d}.jpg" for frame in range(1, count + 1)
            ]
    validation = pl.read_csv(workdir / "results" / "metrics" / "validation.csv")
    assert validation.filter(pl.col("metric") == "score")["value"].is_finite().all()


def test_an_ensemble_chosen_on_validation_predicts_each_validation_video_with_weights_chosen_without_it(tiny_run):
    from abawflow.predict.ensembles import average_predictions

    folder = tiny_run / "results" / "metrics" / "ensemble_weights" / "va"
    members = ["transformer", "gru", "tcn_transformer"]
    tables = [pl.read_parquet(tiny_run / "results" / "predictions" / "va" / f"{m}.parquet") for m in members]
    chosen = pl.read_parquet(tiny_run / "results" / "predictions" / "va" / "three_encoders_chosen.parquet")
    weights = pl.read_csv(folder / "three_encoders_chosen.csv")
    splits = pl.read_parquet(tiny_run / "results" / "aff_wild2" / "index" / "splits.parquet")
    validation = sorted(splits.filter((pl.col("task") == "va") & (pl.col("split") == "validation"))["subject"])
    held_out = []
    for (applied_to,), group in weights.group_by("applied_to", maintain_order=True):
        assert group["member"].to_list() == members and group["weight"].sum() == pytest.approx(1)
        if applied_to == "test":
            subjects = splits.filter((pl.col("task") == "va") & (pl.col("split") == "test"))["subject"].to_list()
            assert group["chosen_on_videos"][0] == len(validation)
        else:
            subjects = applied_to.split(": ")[1].split(", ")
            held_out += subjects
            assert group["chosen_on_videos"][0] == len(validation) - len(subjects)  # chosen without them
        expected = average_predictions("va", tables, group["weight"].to_list(), members)
        expected, got = (
            t.filter(pl.col("subject").is_in(subjects)).sort("subject", "frame") for t in (expected, chosen)
        )
        assert got.height > 0 and np.allclose(got["predicted_valence"], expected["predicted_valence"], atol=1e-6)
    assert sorted(held_out) == validation  # every validation video held out once
    # A fixed ensemble writes its weights too, one set per task of its challenge; the score page shows them.
    mean = pl.read_csv(folder.parent / "mtl" / "mtl_pair.csv")
    assert mean["applied_to"].unique().to_list() == ["validation and test"] and set(mean["weighting"]) == {"fixed"}
    assert mean["task"].to_list() == ["va", "va", "expr", "expr", "au", "au"] and mean["weight"].sum() == pytest.approx(
        3
    )
    # The demo's ensemble keeps the best cross-fitted weighting of the mean, greedy and fitted.
    best = pl.read_csv(folder / "three_encoders.csv")
    assert best["weighting"].n_unique() == 1 and best["weighting"][0] in ("mean", "greedy", "fitted")
    page = (tiny_run / "results" / "report" / "scores" / "va.html").read_text()
    assert "Weights of three_encoders</h4>" in page and "Weights of three_encoders_chosen</h4>" in page
    assert metrics(tiny_run, "three_encoders_chosen")[("va", "score")] > 0.5


def test_the_mae_pretraining_shows_its_reconstructions_and_a_linear_probe(tiny_run):
    log = (tiny_run / "logs" / "evaluate_mae_pretraining" / "vit_mae.log").read_text()
    assert "linear probe of the frozen features, EXPR validation score" in log, log[-2000:]
    probe = pl.read_csv(tiny_run / "results" / "backbones" / "vit_mae" / "mae_probe.csv")
    assert probe["weights"].to_list() == ["start", "pre-trained"] * 3
    assert probe["task"].to_list() == ["expr", "expr", "au", "au", "va", "va"]
    assert (probe["train_frames"] > 100).all() and (probe["validation_frames"] > 50).all()
    assert probe["score"].is_between(0, 1).all()
    assert probe["ridge_penalty"].is_in(list(PENALTIES)).all()  # chosen across folds of the training videos
    width, height = Image.open(tiny_run / "results" / "report" / "mae" / "vit_mae.png").size
    assert width > 600 and height > 300
    # Pre-trained on its two corpora: Aff-Wild2's training faces and up to 100 of s-Aff-Wild2's training crops.
    log = (tiny_run / "logs" / "pretrain_mae" / "vit_mae.log").read_text()
    found = re.search(r"MAE pre-training on (\d+) images \(aff_wild2 (\d+), s_aff_wild2 (\d+)\)", log)
    assert found, log[-2000:]
    total, aff_wild2, s_aff_wild2 = (int(count) for count in found.groups())
    assert total == aff_wild2 + s_aff_wild2 and aff_wild2 > 100 and 0 < s_aff_wild2 <= 100


def test_mtl_challenge_scores_and_submits_every_test_image(tiny_run):
    scores = mtl_metrics(tiny_run)
    assert scores["experiment"] == "mtl_feedback"
    assert scores["score"] == pytest.approx(scores["va"] + scores["f1_expr"] + scores["f1_au"], abs=1e-3)
    assert scores["va"] > 0.4 and scores["f1_expr"] > 0.3
    images = pl.read_parquet(tiny_run / "results" / "s_aff_wild2" / "index" / "images.parquet")
    test_list = (tiny_run / "resources" / "demo_mtl" / "MTL_test_set_release.txt").read_text().split()
    lines = (tiny_run / "results" / "submission" / "mtl.txt").read_text().splitlines()
    assert lines[0] == "image,valence,arousal,expression,aus"
    assert [line.split(",")[0] for line in lines[1:]] == test_list
    assert all(len(line.split(",")) == 16 for line in lines[1:])
    assert images.filter(pl.col("split") == "test").height == len(test_list)
    # An ensemble of MTL experiments is scored beside them and averages all three tasks' outputs.
    table = pl.read_csv(tiny_run / "results" / "metrics" / "mtl.csv")
    assert sorted(table["experiment"].to_list()) == ["mtl_basic", "mtl_feedback", "mtl_pair"]
    folder = tiny_run / "results" / "predictions" / "mtl"
    members = [
        pl.read_parquet(folder / f"{name}.parquet").sort("subject", "frame") for name in ("mtl_feedback", "mtl_basic")
    ]
    ensemble = pl.read_parquet(folder / "mtl_pair.parquet").sort("subject", "frame")
    for column in ("predicted_valence", "probability_Happiness", "probability_AU12"):
        mean = (members[0][column].to_numpy() + members[1][column].to_numpy()) / 2
        assert np.allclose(ensemble[column].to_numpy(), mean, atol=1e-6), column
    # The crops went straight to the features: no detection ran on them.
    faces = pl.read_parquet(
        tiny_run / "results" / "s_aff_wild2" / "faces" / "cropped_aligned" / "shard0of1.parquet",
        columns=["face_found", "score"],
    )
    assert faces["face_found"].all() and faces.height == images.height


def test_abaw3_format_writes_one_file_per_test_video(tiny_run, tmp_path):
    layer = tmp_path / "abaw3.yaml"
    layer.write_text("submission:\n  format: abaw3\n")
    result = run(tiny_run, "submission", extra_config=[layer])
    assert result.returncode == 0, result.stderr[-5000:]
    assert "write_submission_per_video" in rules_run(result.stderr)
    assert "train_temporal_model" not in rules_run(result.stderr)
    splits = pl.read_parquet(tiny_run / "results" / "aff_wild2" / "index" / "splits.parquet")
    for task, header in (("va", "valence,arousal"), ("expr", "Neutral,Anger"), ("au", "AU1,AU2")):
        names = splits.filter((pl.col("task") == task) & (pl.col("split") == "test"))["subject"].to_list()
        folder = tiny_run / "results" / "submission" / "abaw3" / task
        # Snakemake stamps directory outputs with a hidden .snakemake_timestamp file.
        videos = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        assert videos == sorted(f"{name}.txt" for name in names)
        single = (tiny_run / "results" / "submission" / f"{task}.txt").read_text().splitlines()[1:]
        per_video = []
        for name in names:
            lines = (folder / f"{name}.txt").read_text().splitlines()
            assert lines[0].startswith(header)
            per_video.extend(f"{name}/{k + 1:05d}.jpg,{line}" for k, line in enumerate(lines[1:]))
        assert per_video == single  # the same decisions as the ABAW5 file, frame for frame


def test_eri_table_one_and_submission(tiny_run):
    """Paper 002's Table 1 on the Hume-Reaction demo: the face carries four emotions, the voice three."""
    table = pl.read_csv(tiny_run / "results" / "metrics" / "eri.csv")
    scores = dict(zip(table["inputs"], table["score"], strict=True))
    assert table["experiment"].to_list() == [
        "eri_audio",
        "eri_audio_visual",
        "eri_audio_visual_interaction",
        "eri_visual",
    ]
    assert set(scores) == {"A", "A+V", "A+V+AV", "V"}
    # Each modality alone reads its own emotions; together they read more than either.
    columns = {
        name: dict(zip(table["inputs"], table[f"pearson_{name}"], strict=True)) for name in ("Adoration", "Fear")
    }
    assert columns["Adoration"]["A"] > columns["Adoration"]["V"] + 0.3
    assert columns["Fear"]["V"] > columns["Fear"]["A"] + 0.3
    assert min(scores["A+V"], scores["A+V+AV"]) > max(scores["A"], scores["V"])
    assert "| eri_audio_visual_interaction * | A+V+AV |" in (tiny_run / "results" / "metrics" / "eri.md").read_text()
    splits = pl.read_parquet(tiny_run / "results" / "hume_reaction" / "index" / "splits.parquet")
    tests = splits.filter(pl.col("split") == "test")["subject"].to_list()
    lines = (tiny_run / "results" / "submission" / "eri.csv").read_text().splitlines()
    assert lines[0] == ",".join(get_task("eri").submission_header)
    assert [line.split(",")[0] for line in lines[1:]] == [f"[{sample}]" for sample in tests]
    values = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    assert values.shape == (len(tests), 7) and (values >= 0).all() and (values <= 1).all()
    audio = pl.read_parquet(tiny_run / "results" / "hume_reaction" / "features" / "log_mel.parquet")
    faces = pl.read_parquet(tiny_run / "results" / "hume_reaction" / "features" / "fer_mini_xception.parquet")
    assert audio.select("subject", "frame").equals(faces.select("subject", "frame"))


def bundle_predictions(tiny_run, task):
    """The pipeline's predictions of the bundled model of a task (the submitted ensemble): its members'
    predictions averaged with the weights it predicts new videos with, those it applied to the test videos
    (an ensemble whose weights are chosen on validation predicts each validation video with weights chosen
    without it)."""
    from abawflow.predict.ensembles import average_predictions

    chosen = pl.read_csv(tiny_run / "results" / "metrics" / "ensemble_weights" / task / "three_encoders.csv")
    chosen = chosen.filter(pl.col("applied_to").is_in(["test", "validation and test"]))
    members = chosen["member"].to_list()
    tables = [pl.read_parquet(tiny_run / "results" / "predictions" / task / f"{m}.parquet") for m in members]
    averaged = average_predictions(task, tables, chosen["weight"].to_list(), members)
    submitted = pl.read_parquet(tiny_run / "results" / "predictions" / task / "three_encoders.parquet")
    test = [table.filter(pl.col("split") == "test").sort("subject", "frame") for table in (averaged, submitted)]
    assert test[0].select("subject", "frame").equals(test[1].select("subject", "frame"))
    columns = get_task(task).output_columns
    np.testing.assert_allclose(test[0].select(columns).to_numpy(), test[1].select(columns).to_numpy(), atol=1e-6)
    return averaged


def thresholds(table, task):
    from abawflow.challenges.submission import table_thresholds

    return table_thresholds(task, table)


def assert_same_as_pipeline(tiny_run, predicted, subjects, atol):
    """Every output and decision of ``predicted`` (predictions.csv) equals the pipeline's own prediction table for
    the subjects and tasks the pipeline predicted (validation and test videos)."""
    compared = 0
    for task in ("va", "expr", "au"):
        spec = get_task(task)
        pipeline = bundle_predictions(tiny_run, task).filter(pl.col("subject").is_in(subjects))
        if pipeline.is_empty():
            continue
        joined = pipeline.join(predicted, on=["subject", "frame"], how="left", suffix="_bundle")
        assert joined.height == pipeline.height and joined["face_found"].equals(joined["face_found_bundle"])
        for column in spec.output_columns:
            np.testing.assert_allclose(joined[f"{column}_bundle"], joined[column], atol=atol, err_msg=column)
        if spec.kind.has_thresholds or spec.kind.has_classes:
            decided = spec.decide(joined.select(spec.output_columns).to_numpy(), thresholds(joined, task))
            columns = ["expression"] if spec.kind.has_classes else list(spec.header)
            mine = joined.select(columns).to_numpy()
            if spec.kind.has_classes:
                mine = np.array([[spec.header.index(v) for v in row] for row in mine])
            np.testing.assert_array_equal(mine.reshape(decided.shape), decided, err_msg=task)
        compared += pipeline.height
    assert compared > 0


def test_the_bundle_predicts_a_video_as_the_pipeline_did(tiny_run, tmp_path):
    """snakemake bundle, then snakemake predict_videos on a validation video of the demo: the bundle's faces,
    features, models, ensemble and smoothing give the pipeline's own predictions of it."""
    result = run(tiny_run, "bundle")
    assert result.returncode == 0, result.stderr[-5000:]
    bundle = tiny_run / "results" / "bundle"
    manifest = __import__("json").loads((bundle / "bundle.json").read_text())
    assert sorted(manifest["tasks"]) == ["au", "expr", "va"]
    scores = metrics(tiny_run, "three_encoders")
    assert manifest["tasks"]["va"]["validation"]["metrics"]["score"] == pytest.approx(scores[("va", "score")])
    au = bundle_predictions(tiny_run, "au")
    assert manifest["tasks"]["au"]["thresholds"] == pytest.approx(
        list(au.select(f"threshold_{name}" for name in get_task("au").header).row(0))
        if "threshold_AU1" in au.columns
        else [0.5] * 12
    )
    # video1 is a VA validation video, 5-30-320x240 one of EXPR and AU.
    subjects = pl.read_parquet(tiny_run / "results" / "aff_wild2" / "index" / "subjects.parquet")
    videos = [
        tiny_run / "resources" / "demo" / subjects.filter(pl.col("subject") == name)["video_path"][0]
        for name in ("video1", "5-30-320x240")
    ]
    layer = tmp_path / "predict.yaml"
    layer.write_text(f"predict:\n  videos: [{', '.join(map(str, videos))}]\n")
    result = run(tiny_run, "predict_videos", extra_config=[layer])
    assert result.returncode == 0, result.stderr[-5000:]
    assert rules_run(result.stderr) == {"predict_video", "predict_videos"}  # the bundle's models, nothing retrained
    for name in ("video1", "5-30-320x240"):
        folder = tiny_run / "results" / "predict" / name
        assert {"predictions.csv", "timeline.png", "summary.json"} <= {p.name for p in folder.iterdir()}
        predicted = pl.read_csv(folder / "predictions.csv")
        assert predicted["frame"].to_list() == list(range(1, predicted.height + 1))
        assert_same_as_pipeline(tiny_run, predicted, [name], atol=1e-5)


def test_the_command_line_predicts_two_people_with_a_copied_bundle(tiny_run, tmp_path):
    """abawflow predict --people two, with the bundle copied away from its results folder: the demo's two-person
    validation video, each person as the pipeline predicted them."""
    result = run(tiny_run, "bundle")
    assert result.returncode == 0, result.stderr[-5000:]
    bundle = shutil.copytree(tiny_run / "results" / "bundle", tmp_path / "bundle")
    video = next((tiny_run / "resources" / "demo" / "videos").rglob("2-30-448x252.*"))
    command = [os.path.join(os.path.dirname(__import__("sys").executable), "abawflow"), "predict", str(video)]
    command += ["--bundle", str(bundle), "--output", str(tmp_path / "out"), "--people", "two", "--batch-size", "32"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-5000:]
    predicted = pl.read_csv(tmp_path / "out" / "2-30-448x252" / "predictions.csv")
    assert sorted(predicted["subject"].unique()) == ["2-30-448x252_left", "2-30-448x252_right"]
    assert_same_as_pipeline(tiny_run, predicted, ["2-30-448x252_left", "2-30-448x252_right"], atol=1e-5)

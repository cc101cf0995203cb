"""The ERI challenge (Hume-Reaction, paper 002): metric, task, loss, layout reader and its errors, clips,
the audio-visual model, training, scoring per video and the submission file."""

import numpy as np
import polars as pl
import pytest
import torch
from scipy import stats

from abawflow.challenges.per_video import write_video_submission
from abawflow.challenges.registry import get_challenge
from abawflow.challenges.submission import prediction_table
from abawflow.core.errors import AnnotationFormatError, DatasetLayoutError, SubmissionError
from abawflow.datasets.hume_reaction import index_hume_reaction, read_data_info
from abawflow.tasks.metrics import mean_pearson, pearson
from abawflow.tasks.specs import EMOTIONS, ERI
from abawflow.training.regimes import clip_indices
from abawflow.training.sequences import Sequence, attach_labels
from abawflow.training.temporal import evaluate, train
from models.losses import create_loss
from models.temporal import create_temporal_model

HEADER = "File_ID,Split," + ",".join(EMOTIONS) + ",Age,Country"
LAYOUT = ("data_info.csv", "mp4", "wav", {"train": "train", "validation": "val", "test": "test"})


def test_pearson_matches_scipy_and_the_challenge_mean():
    rng = np.random.default_rng(0)
    truth, noisy = rng.random((50, 7)), rng.random((50, 7))
    prediction = truth + noisy
    for k in range(7):
        assert pearson(truth[:, k], prediction[:, k]) == pytest.approx(stats.pearsonr(truth[:, k], prediction[:, k])[0])
    expected = np.mean([stats.pearsonr(truth[:, k], prediction[:, k])[0] for k in range(7)])
    assert mean_pearson(truth, prediction) == pytest.approx(expected)
    assert pearson([1, 2, 3], [5, 5, 5]) == 0.0  # a constant prediction correlates with nothing
    with pytest.raises(ValueError):
        pearson([1.0], [2.0])


def test_the_eri_task_decodes_intensities_and_scores_per_emotion():
    outputs = torch.tensor([[-10.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0]])
    decoded = ERI.decode(outputs)
    assert decoded[0, 0] < 1e-4 and decoded[0, 1] == 0.5 and decoded[0, 2] > 0.9999
    assert ERI.validate_row([0.5] * 6 + [1.5]) == "intensities must lie in [0, 1], got 1.5"
    assert ERI.output_columns[4] == "predicted_Empathic-Pain" and ERI.granularity == "video"
    truth = np.random.default_rng(1).random((10, 7))
    metrics = ERI.metrics(truth, truth)
    assert metrics["score"] == pytest.approx(1.0) and set(metrics) == {f"pearson_{e}" for e in EMOTIONS} | {"score"}


def test_the_eri_loss_is_mse_plus_the_top_emotions_cross_entropy():
    outputs = torch.randn(4, 7, requires_grad=True)
    targets = torch.rand(4, 7)
    mask = torch.tensor([True, True, False, True])
    loss = create_loss("intensity_mse_ce")(outputs, targets, mask)
    kept_outputs, kept_targets = outputs[mask], targets[mask]
    expected = torch.nn.functional.mse_loss(torch.sigmoid(kept_outputs), kept_targets) + 0.01 * (
        torch.nn.functional.cross_entropy(kept_outputs, kept_targets.argmax(1))
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert outputs.grad[2].abs().sum() == 0 and outputs.grad[0].abs().sum() > 0


def write_layout(root, lines, files=None):
    root.mkdir(parents=True, exist_ok=True)
    (root / "data_info.csv").write_text("\n".join(lines) + "\n")
    for folder, sample in files or []:
        for kind, suffix in (("mp4", "mp4"), ("wav", "wav")):
            path = root / folder / kind / f"{sample}.{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    return root


def intensities(values="0.5,1.0,0.2,0.1,0.0,0.3,0.4"):
    return values


@pytest.mark.parametrize(
    "line, message",
    [
        ("[00000],Train,0.5,1.0,0.2,0.1,0.0,0.3", "line 2: 8 cells, the header has 11"),
        ("[0000x0],Train," + intensities() + ",30,USA", "line 2: File_ID '[0000x0]' is not an id"),
        ("[00000],Dev," + intensities() + ",30,USA", "line 2: Split 'Dev' is not one of Train, Val, Test"),
        ("[00000],Train,,,,,,,,30,USA", "line 2: expected 7 intensities"),
        ("[00000],Val,0.5,1.0,0.2,0.1,0.0,0.3,1.4,30,USA", "line 2: intensities must lie in [0, 1], got Surprise 1.4"),
    ],
)
def test_a_malformed_sample_line_names_the_file_and_line(tmp_path, line, message):
    root = write_layout(tmp_path / "hume", [HEADER, line])
    with pytest.raises(AnnotationFormatError, match=message.replace("[", r"\[").replace("(", r"\(")):
        read_data_info(root / "data_info.csv")


def test_the_header_duplicates_and_missing_files_are_named(tmp_path):
    root = write_layout(tmp_path / "a", ["File_ID,Split,Adoration,Amusement", "[00000],Train,1,0"])
    with pytest.raises(AnnotationFormatError, match=r"line 1: the header lacks 'Anxiety', 'Disgust', 'Empathic-Pain'"):
        read_data_info(root / "data_info.csv")
    row = "[00000],Train," + intensities() + ",30,USA"
    root = write_layout(tmp_path / "b", [HEADER, row, row])
    with pytest.raises(AnnotationFormatError, match="line 3: sample 00000 is listed again \\(first on line 2\\)"):
        read_data_info(root / "data_info.csv")
    root = write_layout(tmp_path / "c", [HEADER, row])
    with pytest.raises(DatasetLayoutError, match=r"line 2: sample 00000's video .*train/mp4/00000.mp4 is missing"):
        index_hume_reaction(root, *LAYOUT)
    with pytest.raises(DatasetLayoutError, match="data_info.csv\\) is missing"):
        read_data_info(tmp_path / "none" / "data_info.csv")


def test_the_layout_reader_gives_subjects_splits_and_one_label_row_per_sample(tmp_path):
    lines = [
        HEADER,
        "[00000],Train," + intensities() + ",30,USA",
        "00001,Val," + intensities("1,0,0,0,0,0,0") + ",41,SA",  # a bare id is read too
        "[00002],Test,,,,,,,,25,SA",
    ]
    root = write_layout(tmp_path / "hume", lines, [("train", "00000"), ("val", "00001"), ("test", "00002")])
    subjects, splits, labels = index_hume_reaction(root, *LAYOUT)
    assert subjects["subject"].to_list() == ["00000", "00001", "00002"]
    assert subjects.filter(pl.col("subject") == "00001").row(0, named=True)["audio_path"] == "val/wav/00001.wav"
    assert splits.select("subject", "split").rows() == [
        ("00000", "train"),
        ("00001", "validation"),
        ("00002", "test"),
    ]
    assert labels["subject"].to_list() == ["00000", "00001"] and labels.columns[2:] == list(EMOTIONS)
    assert labels.row(1)[2:] == (1.0, 0, 0, 0, 0, 0, 0)
    # Without a sound folder the videos' own tracks are read.
    assert index_hume_reaction(root, *LAYOUT[:2], "", LAYOUT[3])[0]["audio_path"][0] == "train/mp4/00000.mp4"


def test_a_videos_label_row_reaches_every_frame():
    sequence = Sequence("00000", np.arange(1, 41), np.ones(40, bool), [np.zeros((40, 3), np.float32)])
    row = pl.DataFrame({"subject": ["00000"], "annotated": [True], **{e: [0.1 * k] for k, e in enumerate(EMOTIONS)}})
    attach_labels(sequence, row, "eri")
    assert sequence.targets.shape == (40, 7) and sequence.annotated.all()
    assert np.allclose(sequence.targets[17], [0.1 * k for k in range(7)])


def test_a_clip_takes_one_frame_of_each_equal_stride():
    rng = np.random.default_rng(0)
    middle = clip_indices(100, 10)
    assert middle.tolist() == [4, 14, 24, 34, 44, 54, 64, 74, 84, 94]
    for _ in range(20):
        drawn = clip_indices(103, 10, rng)
        edges = np.floor(np.linspace(0, 103, 11)).astype(int)
        assert len(drawn) == 10 and all(edges[k] <= drawn[k] < edges[k + 1] for k in range(10))
    assert clip_indices(7, 10).tolist() == list(range(7))  # a short video: every frame


FUSION = {"name": "conv1d", "width": 8, "dropout": 0.0}
ENCODER = {"name": "attention_concat", "layers": 1, "heads": 2, "dropout": 0.0}


def audio_visual(modalities, **framework):
    torch.manual_seed(0)
    widths = [6 if m == "vision" else 4 for m in modalities]
    framework = {"name": "audio_visual", "modalities": modalities, **framework}
    return create_temporal_model(widths, {"eri": 7}, FUSION, ENCODER, framework), widths


def test_the_audio_visual_model_gives_one_output_per_clip_and_ignores_masked_frames():
    model, widths = audio_visual(["vision", "audio"])
    model.eval()
    features = [torch.randn(2, 16, w, requires_grad=True) for w in widths]
    padding = torch.zeros(2, 16, dtype=torch.bool)
    padding[0, 10:] = True
    outputs = model(features, padding)
    assert outputs.shape == (2, 16, 7) and torch.allclose(outputs[:, 0], outputs[:, -1])
    outputs[:, 0].sum().backward()
    assert all(f.grad.abs().sum() > 0 for f in features)  # both modalities reach the output
    with torch.no_grad():
        before = model(features, padding)
        features[0].data[0, 10:] += 100.0
        assert torch.allclose(before, model(features, padding), atol=1e-5)


def test_the_interaction_encoder_is_there_only_with_both_modalities_and_interaction_on():
    with_interaction, _ = audio_visual(["vision", "audio"])
    without, _ = audio_visual(["vision", "audio"], interaction=False)
    audio_only, _ = audio_visual(["audio"])
    assert with_interaction.interaction is not None and without.interaction is None and audio_only.interaction is None
    assert set(audio_only.encoders) == {"audio"} and set(without.encoders) == {"audio", "vision"}
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert count(with_interaction) > count(without) > count(audio_only)
    with pytest.raises(ValueError, match="audio_visual trains one task"):
        create_temporal_model(
            [4], {"eri": 7, "va": 2}, FUSION, ENCODER, {"name": "audio_visual", "modalities": ["audio"]}
        )


def eri_sequences(rng, count, frames=30):
    """Videos whose seven intensities are a fixed function of their (noisy, per-frame) features."""
    mixing = np.random.default_rng(99).standard_normal((5, 7))
    sequences = []
    for index in range(count):
        latent = rng.standard_normal(5)
        target = 1.0 / (1.0 + np.exp(-latent @ mixing))
        features = (latent + 0.3 * rng.standard_normal((frames, 5))).astype(np.float32)
        sequence = Sequence(f"{index:05d}", np.arange(1, frames + 1), np.ones(frames, bool), [features])
        row = {
            "subject": [sequence.subject],
            "annotated": [True],
            **{e: [t] for e, t in zip(EMOTIONS, target, strict=True)},
        }
        sequences.append(attach_labels(sequence, pl.DataFrame(row), "eri"))
    return sequences


def test_training_on_clips_lowers_the_loss_and_learns_the_intensities():
    rng = np.random.default_rng(0)
    sequences = {"train": eri_sequences(rng, 48), "validation": eri_sequences(rng, 16)}
    config = {"fusion": FUSION, "encoder": ENCODER, "framework": {"name": "audio_visual", "modalities": ["audio"]}}
    recipe = {
        "seed": 0,
        "window": 32,
        "stride": 16,
        "clip_steps": 8,
        "epochs": 30,
        "batch_size": 8,
        "learning_rate": 0.005,
        "weight_decay": 0.0,
        "optimizer": "adam",
    }
    model, history = train("eri", sequences, config, recipe)
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["validation_score"] > 0.7
    assert evaluate("eri", model, sequences["validation"], recipe)["score"] == pytest.approx(
        history[-1]["validation_score"], abs=1e-6
    )


def eri_predictions(split, values_by_subject, frames=5):
    tables = [
        prediction_table(
            "eri", subject, split, np.arange(1, frames + 1), np.ones(frames, bool), np.tile(v, (frames, 1))
        )
        for subject, v in values_by_subject.items()
    ]
    return pl.concat(tables)


def test_the_challenge_scores_once_per_video():
    rng = np.random.default_rng(0)
    truth = {f"{k:05d}": rng.random(7) for k in range(12)}
    labels = pl.DataFrame(
        {
            "subject": list(truth),
            "annotated": [True] * 12,
            **{e: [v[k] for v in truth.values()] for k, e in enumerate(EMOTIONS)},
        }
    )
    predicted = {subject: values + 0.2 * rng.standard_normal(7) for subject, values in truth.items()}
    scores, frames, videos = get_challenge("eri").score({"eri": labels}, eri_predictions("validation", predicted))
    expected = mean_pearson(np.stack(list(truth.values())), np.stack(list(predicted.values())))
    assert scores["score"] == pytest.approx(expected, rel=1e-4) and videos == 12 and frames == 60  # float32 tables


def test_the_submission_lists_every_test_sample_in_order_with_bracketed_ids(tmp_path):
    index = pl.DataFrame({"task": ["eri"] * 3, "subject": ["00007", "00003", "00005"], "split": ["test"] * 3})
    values = {s: np.full(7, 0.25 * (k + 1)) for k, s in enumerate(["00003", "00005", "00007"])}
    path = tmp_path / "eri.csv"
    write_video_submission(get_challenge("eri"), eri_predictions("test", values), index, path)
    lines = path.read_text().splitlines()
    assert lines[0] == "File_ID," + ",".join(EMOTIONS)
    assert [line.split(",")[0] for line in lines[1:]] == ["[00007]", "[00003]", "[00005]"]
    assert lines[2] == "[00003]," + ",".join(["0.250000"] * 7)
    with pytest.raises(SubmissionError, match="1 of the 3 ERI test videos have no prediction \\(first: 00005\\)"):
        write_video_submission(
            get_challenge("eri"),
            eri_predictions("test", {k: v for k, v in values.items() if k != "00005"}),
            index,
            path,
        )
    broken = {**values, "00003": np.full(7, np.nan)}
    with pytest.raises(SubmissionError, match="predicted_Adoration is nan"):
        write_video_submission(get_challenge("eri"), eri_predictions("test", broken), index, tmp_path / "other.csv")
    assert not (tmp_path / "other.csv").exists()


def test_the_clip_model_fuses_text_beside_audio_and_vision():
    model, widths = audio_visual(["vision", "audio", "text"])
    text_only, _ = audio_visual(["text"])
    assert set(model.encoders) == {"audio", "vision", "text"} and model.interaction is not None
    assert set(text_only.encoders) == {"text"} and text_only.interaction is None
    model.eval()
    features = [torch.randn(2, 12, w, requires_grad=True) for w in widths]
    outputs = model(features, torch.zeros(2, 12, dtype=torch.bool))
    assert outputs.shape == (2, 12, 7)
    outputs[:, 0].sum().backward()
    assert all(f.grad.abs().sum() > 0 for f in features)  # every modality reaches the output

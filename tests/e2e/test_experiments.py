"""Every encoder type, fusion and loss of the small DAG's experiments, and its ensembles, run end to end."""

import numpy as np
import polars as pl
import pytest

pytestmark = pytest.mark.e2e

EXPECTED = {
    "va": {
        "transformer",
        "transformer_random",
        "small_transformer",
        "lstm",
        "tcn_transformer",
        "basic",
        "share_bottom",
        "va_mean",
        "two_transformers",
        "transformer_audio_visual",
    },
    "expr": {
        "transformer",
        "small_transformer",
        "smooth",
        "basic",
        "feedback",
        "two_transformers",
        "transformer_fine_tuned",
        "coarse_net",  # the demo's two networks (paper 004) and their cascade
        "negative_net",
        "coarse_to_fine",
    },
    "au": {
        "transformer",
        "gru",
        "basic",
        "share_bottom",
        "feedback",
        "transformer_mae",
        "transformer_mae_expr_head",
        "mae",
    },
}
# Training runs per experiment: (target, fold, seed); multi-task frameworks train one model for their tasks.
RUNS = {
    "basic": [("multitask", fold, seed) for fold in (0, 1) for seed in (0, 1)],
    "share_bottom": [("multitask", 0, 0)],
    "feedback": [("multitask", 0, 0)],
}
ENSEMBLES = {"va_mean", "two_transformers", "coarse_to_fine", "mae"}
EXPERIMENTS = ("transformer", "small_transformer")  # the members of two_transformers


def test_each_experiment_is_trained_predicted_and_scored(small_dag_run):
    _, workdir, _ = small_dag_run
    faces = pl.concat(
        [
            pl.read_parquet(
                workdir / "results" / "aff_wild2" / "faces" / "detected" / f"shard{k}of2.parquet", columns=["subject"]
            )
            for k in (0, 1)
        ]
    )
    frames = dict(faces.group_by("subject").agg(pl.len()).rows())
    for task, experiments in EXPECTED.items():
        table = pl.read_csv(workdir / "results" / "metrics" / f"{task}.csv")
        assert set(table["experiment"]) == experiments
        assert table["score"].is_finite().all()
        for experiment in experiments:
            predictions = pl.read_parquet(workdir / "results" / "predictions" / task / f"{experiment}.parquet")
            counts = dict(predictions.group_by("subject").agg(pl.len()).rows())
            assert all(counts[subject] == frames[subject] for subject in counts)  # every frame of each video
            values = predictions.select(pl.exclude("subject", "split", "frame", "face_found")).to_numpy()
            assert (values == values).all()  # no NaN
            if experiment not in ENSEMBLES:
                for target, fold, seed in RUNS.get(experiment, [(task, 0, 0)]):
                    log = workdir / "logs" / "train_temporal_model" / experiment / target / f"fold{fold}_seed{seed}.log"
                    assert "epoch 2:" in log.read_text()


def test_config_mistakes_stop_before_any_job_with_the_key_named(tmp_path):
    from support.dag import CONFIGS, snakemake

    cases = {
        "ensembles:\n  bad:\n    members: [transformer, nonexistent]\n": (
            "ensembles.bad.members names nonexistent, not under experiments"
        ),
        "experiments:\n  transformer:\n    backbones: [resnet50_missing]\n": (
            "experiments.transformer.backbones names 'resnet50_missing', which is not under backbones"
        ),
        "submission:\n  au: small_transformer\n": "task 'au' has no experiment to submit",
    }
    for index, (text, message) in enumerate(cases.items()):
        layer = tmp_path / f"mistake{index}.yaml"
        layer.write_text(text)
        result = snakemake(tmp_path, "--dry-run", configs=[CONFIGS / "small_dag.yaml", layer])
        assert result.returncode != 0
        assert message in result.stdout + result.stderr, result.stderr[-2000:]
        assert "ConfigError" in result.stdout + result.stderr


def test_recipe_and_post_processing_options_reach_the_runs(small_dag_run):
    _, workdir, _ = small_dag_run
    logs = workdir / "logs" / "train_temporal_model" / "basic" / "multitask"
    fold0, fold1 = (logs / "fold0_seed0.log").read_text(), (logs / "fold1_seed0.log").read_text()
    held_out = [line.split(": ")[-1] for text in (fold0, fold1) for line in text.splitlines() if "held out" in line]
    assert len(held_out) == 2 and not set(held_out[0].split(", ")) & set(held_out[1].split(", "))
    # Seeds differ, so do the models; the experiment's predictions average the four runs.
    models = workdir / "results" / "models" / "basic" / "multitask"
    assert (models / "fold0_seed0" / "model.pt").read_bytes() != (models / "fold0_seed1" / "model.pt").read_bytes()
    # Per-AU thresholds tuned on validation travel with the predictions; smoothing made neighbours closer.
    predictions = pl.read_parquet(workdir / "results" / "predictions" / "au" / "basic.parquet")
    thresholds = predictions.select(pl.selectors.starts_with("threshold_")).row(0)
    assert len(thresholds) == 12 and len(set(thresholds)) > 1
    folder = workdir / "results" / "predictions" / "va"
    smoothed = pl.read_parquet(folder / "two_transformers.parquet").sort("subject", "split", "frame")
    members = [pl.read_parquet(folder / f"{name}.parquet").sort("subject", "split", "frame") for name in EXPERIMENTS]
    mean = (members[0]["predicted_valence"].to_numpy() + members[1]["predicted_valence"].to_numpy()) / 2
    same_video = smoothed["subject"].to_numpy()[1:] == smoothed["subject"].to_numpy()[:-1]
    jumps = np.abs(np.diff(smoothed["predicted_valence"].to_numpy()))[same_video].mean()
    assert jumps < np.abs(np.diff(mean))[same_video].mean()

"""Every encoder type, fusion and loss of the small DAG's experiments, and its ensembles, run end to end."""

import polars as pl

EXPECTED = {
    "va": {"transformer", "small_transformer", "lstm", "tcn_transformer", "va_mean", "two_transformers"},
    "expr": {"transformer", "small_transformer", "smooth", "two_transformers"},
    "au": {"transformer", "gru"},
}
ENSEMBLES = {"va_mean", "two_transformers"}


def test_each_experiment_is_trained_predicted_and_scored(small_dag_run):
    _, workdir, _ = small_dag_run
    faces = pl.concat(
        [pl.read_parquet(workdir / "results" / "faces" / f"shard{k}of2.parquet", columns=["subject"]) for k in (0, 1)]
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
                log = (workdir / "logs" / "train_temporal_model" / task / f"{experiment}.log").read_text()
                assert "epoch 2:" in log


def test_config_mistakes_stop_before_any_job_with_the_key_named(tmp_path):
    from dag import CONFIGS, snakemake

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

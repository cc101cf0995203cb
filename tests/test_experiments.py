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

"""The organizers' Hume-Vidmimic2 features (vit/<id>.pkl, wav2vec2/<id>.pkl, a T x 768 array each) as backbones
on a researcher's copy outside the repository: planned from the config alone, read into feature tables with
every frame of every video, the wav2vec2 rows (50 a second) spread over the frames."""

import pickle

import numpy as np
import polars as pl
import pytest
from support.dag import job_counts, snakemake

from abawflow.datasets.demo.hume_vidmimic2 import make_demo_hume_vidmimic2

pytestmark = pytest.mark.e2e

BACKBONES = """
backbones:
  organizer_vit: {format: precomputed, precomputed: {folders: [vit, test/vit]}, output_width: 768}
  organizer_wav2vec2:
    format: precomputed
    precomputed: {folders: [wav2vec2, test/wav2vec2], modality: audio}
    output_width: 768
experiments:
  emi_organizer:
    tasks: [emi]
    backbones: [organizer_vit, organizer_wav2vec2]
    framework: {name: audio_visual, interaction: false}
"""


@pytest.fixture(scope="module")
def researcher(tmp_path_factory):
    outside = tmp_path_factory.mktemp("researcher")
    root = make_demo_hume_vidmimic2(outside / "Hume-Vidmimic2", seed=7, videos=8, frames=30)
    rng = np.random.default_rng(0)
    arrays = {}
    for video in sorted(root.glob("raw/*.mp4")) + sorted(root.glob("test/raw/*.mp4")):
        prefix = "test/" if video.parent.parent.name == "test" else ""
        for name, rows in (("vit", 30), ("wav2vec2", 60)):  # 30 frames at 25 fps: 1.2 s, about 60 wav2vec2 rows
            array = rng.normal(size=(rows, 768)).astype(np.float32)
            path = root / f"{prefix}{name}" / f"{video.stem}.pkl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pickle.dumps(array))
            arrays[(name, video.stem)] = array
    config = outside / "emi.yaml"
    emi = f"emi: {{root: {root}, transcript_folder: transcripts}}"
    config.write_text(f"methods: demo\ntasks: [emi]\n{emi}\n{BACKBONES}")
    return outside, root, config, arrays


def test_the_plan_reads_the_organizers_features_as_backbones(researcher, tmp_path):
    _, _, config, _ = researcher
    result = snakemake(tmp_path, "--dry-run", configs=[config])
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    assert counts["read_precomputed_features"] == 2 and counts["train_temporal_model"] == 6  # 5 demo + ours
    assert "organizer_vit" not in result.stdout.split("rule extract_features:")[-1].split("rule ")[0]


def test_the_tables_hold_every_frame_with_the_rows_spread_over_it(researcher):
    outside, root, config, arrays = researcher
    workdir = outside / "run"
    workdir.mkdir()
    targets = [f"results/hume_vidmimic2/features/{name}.parquet" for name in ("organizer_vit", "organizer_wav2vec2")]
    result = snakemake(workdir, *targets, configs=[config])
    assert result.returncode == 0, result.stderr[-5000:]
    vit, wav2vec2 = (pl.read_parquet(workdir / target) for target in targets)
    subjects = pl.read_parquet(workdir / "results/hume_vidmimic2/index/subjects.parquet")
    assert vit.height == wav2vec2.height == subjects["frames"].sum() and vit["face_found"].all()
    for video, frames in subjects.select("video", "frames").iter_rows():
        for name, table in (("vit", vit), ("wav2vec2", wav2vec2)):
            rows = np.array(table.filter(pl.col("subject") == video)["feature"].to_list())
            shipped = arrays[(name, video)]
            # frame k (1-based) takes the row its middle falls in: floor((k - 0.5) T / frames)
            expected = shipped[np.floor((np.arange(frames) + 0.5) * len(shipped) / frames).astype(int)]
            np.testing.assert_array_equal(rows, expected)


def test_a_damaged_feature_file_fails_its_job_naming_the_file(researcher):
    outside, root, config, _ = researcher
    workdir = outside / "damaged"
    workdir.mkdir()
    damaged = sorted((root / "vit").glob("*.pkl"))[0]
    kept = damaged.read_bytes()
    damaged.write_bytes(pickle.dumps(np.zeros((5, 512), np.float32)))
    try:
        result = snakemake(workdir, "results/hume_vidmimic2/features/organizer_vit.parquet", configs=[config])
    finally:
        damaged.write_bytes(kept)
    log = (workdir / "logs" / "read_precomputed_features" / "hume_vidmimic2" / "organizer_vit.log").read_text()
    assert result.returncode != 0
    assert f"{damaged}: expected a T x 768 array (output_width 768), got shape (5, 512)" in log
    assert not (workdir / "results/hume_vidmimic2/features/organizer_vit.parquet").exists()

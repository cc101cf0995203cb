"""The A/H challenge on its generated demo (BAH layout): the dry run plans it from its registration alone,
the transcripts feed a text backbone, the run chooses the threshold on the validation videos and writes the
trial file in the test list's order, and one more trial file per entry of submission.trials."""

import csv

import pytest
from support.dag import CONFIGS, job_counts, snakemake

pytestmark = pytest.mark.e2e


def test_the_demo_writes_the_trial_file_in_the_test_lists_order(tmp_path):
    configs = [CONFIGS / "ah.yaml"]
    dry_run = snakemake(tmp_path, "--dry-run", configs=configs)
    assert dry_run.returncode == 0, dry_run.stderr[-3000:]
    counts = job_counts(dry_run.stdout)
    assert counts["demo_bah_data"] == 1 and counts["index_bah"] == 1 and counts["train_temporal_model"] == 5
    assert counts["write_submission"] == 1 and "write_submission_csv" not in counts
    assert counts["write_trial_submission"] == 2  # submission.trials
    assert counts["read_transcripts"] == 1 and counts["extract_text_features"] == 1  # the text backbone
    result = snakemake(tmp_path, configs=configs)
    assert result.returncode == 0, result.stderr[-5000:]
    tests = [line.split(",")[0] for line in (tmp_path / "resources/demo_ah/split/test.txt").read_text().splitlines()]
    lines = (tmp_path / "results/submission/ah.txt").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == tests and any(" " in video for video in tests)
    for line in lines:
        _, p0, p1, decided = line.split(",")
        assert abs(float(p0) + float(p1) - 1) < 2e-6 and decided in ("0", "1")
    trials = tmp_path / "results/submission/trials/ah"
    assert sorted(path.name for path in trials.iterdir()) == ["trial-0.txt", "trial-1.txt"]
    assert (trials / "trial-0.txt").read_bytes() == (tmp_path / "results/submission/ah.txt").read_bytes()
    fused = (trials / "trial-1.txt").read_text().splitlines()  # the late fusion's: the same videos, its own values
    assert [line.split(",")[0] for line in fused] == tests and fused != lines
    with open(tmp_path / "results/metrics/ah.csv", newline="") as file:
        scores = {row["experiment"]: row for row in csv.DictReader(file)}
    assert {name: row["inputs"] for name, row in scores.items()} == {
        "ah_audio": "A",
        "ah_visual": "V",
        "ah_text": "T",
        "ah_audio_visual": "A+V",
        "ah_audio_visual_text": "A+V+T",
        "ah_late_fusion": "mean of 3",  # the ensemble of the three single-modality experiments
    }
    assert all(0 <= float(row["average_precision"]) <= 1 and int(row["videos"]) == 8 for row in scores.values())
    log = (tmp_path / "logs/predict/ah/ah_audio_visual_text.log").read_text()
    assert "chose the decision threshold" in log and "on 8 validation videos" in log

"""The EMI challenge on a researcher's own Hume-Vidmimic2 copy: their config layered on the default, the data
outside the repository, label files whose ids a spreadsheet stripped of their zeros. The dry run plans the
challenge's jobs from its registration alone; the run writes emi.csv in the release's layout."""

import csv

import pytest
from support.dag import CONFIGS, job_counts, snakemake

from abawflow.datasets.demo.hume_vidmimic2 import make_demo_hume_vidmimic2
from abawflow.tasks.specs import MIMICRY_EMOTIONS

pytestmark = pytest.mark.e2e

EMI_JOBS = {
    "index_hume_vidmimic2": 1,
    "detect_and_align_faces": 1,
    "plot_face_detection": 1,
    "extract_features": 1,
    "merge_feature_shards": 1,
    "extract_audio_features": 1,
    "read_transcripts": 1,
    "extract_text_features": 1,
    "cache_feature_matrix": 3,
    "train_temporal_model": 5,
    "plot_learning_curves": 5,
    "predict": 5,
    "evaluate_validation": 1,
    "write_runtime_table": 1,
    "write_submission_csv": 1,
    "write_score_table": 1,
    "write_report_description": 1,
    "submission": 1,
}


@pytest.fixture(scope="module")
def researcher(tmp_path_factory):
    outside = tmp_path_factory.mktemp("researcher")
    root = make_demo_hume_vidmimic2(outside / "Hume-Vidmimic2", seed=3, videos=20, frames=40)
    for name in ("train_split.csv", "valid_split.csv"):  # as saved by a spreadsheet: 00007 -> 7
        lines = (root / name).read_text().splitlines()
        unpadded = [f"{int(line.split(',')[0])},{line.split(',', 1)[1]}" for line in lines[1:]]
        (root / name).write_text("\n".join([lines[0], *unpadded]) + "\n")
    assert "00001," not in (root / "train_split.csv").read_text()  # the ids as the researcher's file holds them
    (root / "transcripts").rename(root / "whisper")  # their own transcription, in a folder of their naming
    config = outside / "emi.yaml"
    config.write_text(f"methods: demo\ntasks: [emi]\nemi: {{root: {root}, transcript_folder: whisper}}\n")
    workdir = outside / "run"
    workdir.mkdir()
    return root, config, workdir


def test_the_demo_config_generates_its_data_from_the_registration(tmp_path):
    result = snakemake(tmp_path, "--dry-run", configs=[CONFIGS / "emi.yaml"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout) == {"demo_hume_vidmimic2_data": 1, **EMI_JOBS}


def test_a_damaged_label_file_stops_the_dry_run_naming_its_line(researcher, tmp_path):
    root, config, _ = researcher
    damaged = tmp_path / "damaged"
    damaged.write_text(f"methods: demo\ntasks: [emi]\nemi: {{root: {root}, label_files: {{train: broken.csv}}}}\n")
    lines = (root / "train_split.csv").read_text().splitlines()
    (root / "broken.csv").write_text("\n".join([lines[0], lines[1], "12,0,0.5,0,0,0"]) + "\n")
    try:
        result = snakemake(tmp_path, "--dry-run", configs=[damaged])
    finally:
        (root / "broken.csv").unlink()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{root / 'broken.csv'}, line 3" in output and "Traceback" not in output, output[-3000:]


def test_transcripts_named_where_there_are_none_stop_the_dry_run(researcher, tmp_path):
    root, _, _ = researcher
    config = tmp_path / "emi.yaml"
    config.write_text(f"methods: demo\ntasks: [emi]\nemi: {{root: {root}}}\n")  # the default's folder: transcripts
    result = snakemake(tmp_path, "--dry-run", configs=[config])
    output = result.stdout + result.stderr
    assert result.returncode != 0 and f"emi.transcript_folder: {root / 'transcripts'} not found" in output


def test_the_run_submits_every_test_video_with_its_padded_id(researcher):
    root, config, workdir = researcher
    dry_run = snakemake(workdir, "--dry-run", configs=[config])
    assert dry_run.returncode == 0, dry_run.stderr[-3000:]
    assert job_counts(dry_run.stdout) == EMI_JOBS  # the user's data: nothing generated
    result = snakemake(workdir, configs=[config])
    assert result.returncode == 0, result.stderr[-5000:]
    with open(workdir / "results" / "submission" / "emi.csv", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["Filename", *MIMICRY_EMOTIONS]
    assert [row[0] for row in rows[1:]] == sorted(path.stem for path in (root / "test" / "raw").glob("*.mp4"))
    assert all(len(row) == 7 and all(0.0 <= float(value) <= 1.0 for value in row[1:]) for row in rows[1:])
    with open(workdir / "results" / "metrics" / "emi.csv", newline="") as file:
        scores = {row["experiment"]: row for row in csv.DictReader(file)}
    assert {name: row["inputs"] for name, row in scores.items()} == {
        "emi_audio": "A",
        "emi_audio_visual": "A+V",
        "emi_audio_visual_text": "A+V+T",
        "emi_text": "T",
        "emi_visual": "V",
    }
    assert all(int(row["videos"]) == 4 for row in scores.values())  # the validation videos, each scored once

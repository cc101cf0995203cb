"""Incremental rebuilds, read from Snakemake's dry-run plan after a complete run of the small DAG."""

import shutil
from pathlib import Path

import pytest
from support.dag import copy_workflow, plan, snakemake

pytestmark = pytest.mark.e2e

# What a user would call expensive: decoding, detection, feature extraction, training.
EXPENSIVE = {"demo_data", "index_annotations", "detect_and_align_faces", "extract_features", "train_temporal_model"}
# What follows a changed prediction table: the ensembles, the scores (and their report tables), the target rule.
AFTER_PREDICTION = {
    "ensemble_predictions",
    "evaluate_validation",
    "write_score_table",
    "write_report_description",
    "submission",
}
# A rerun job rewrites its benchmark file, which the report's runtime table reads.
RETRAINED = {"train_temporal_model", "predict", "plot_learning_curves", "write_runtime_table", *AFTER_PREDICTION}


def rules_of(jobs):
    return {rule for rule, _ in jobs}


def outputs_of(jobs, rule):
    return sorted(output for job_rule, output in jobs if job_rule == rule)


def layered(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_complete_run_leaves_nothing_to_do(small_dag_run):
    snakefile, workdir, configs = small_dag_run
    assert plan(workdir, "submission", configs=configs, snakefile=snakefile) == []


def test_adding_a_backbone_schedules_only_its_features_and_the_experiments_that_use_it(small_dag_run, tmp_path):
    snakefile, workdir, configs = small_dag_run
    added = layered(
        tmp_path,
        "added_backbone.yaml",
        """
backbones:
  resnet18_random_b:
    architecture: resnet18
    allow_random_weights: true
    output_width: 512
    seed: 7
    model_options: {zero_init_last: false}
experiments:
  small_transformer:
    backbones: [resnet18_random, resnet18_random_b]
""",
    )
    jobs = plan(workdir, "submission", configs=[*configs, added], snakefile=snakefile)
    assert rules_of(jobs) == {"extract_features", "merge_feature_shards", "cache_feature_matrix", *RETRAINED}
    assert outputs_of(jobs, "extract_features") == [
        "results/aff_wild2/features/resnet18_random_b/shard0of2.parquet",
        "results/aff_wild2/features/resnet18_random_b/shard1of2.parquet",
    ]
    assert outputs_of(jobs, "cache_feature_matrix") == [
        "results/aff_wild2/features/matrices/resnet18_random_b.npy",
        "results/aff_wild2/features/matrices/resnet18_random_b.rows.parquet",
    ]
    assert outputs_of(jobs, "train_temporal_model") == [
        f"results/models/small_transformer/{task}/fold0_seed0/{name}"
        for task in ("expr", "va")
        for name in ("history.csv", "model.pt")
    ]


def test_changing_one_experiments_hyperparameter_reruns_that_experiment_only(small_dag_run, tmp_path):
    snakefile, workdir, configs = small_dag_run
    changed = layered(
        tmp_path, "changed.yaml", "experiments:\n  small_transformer:\n    recipe: {learning_rate: 0.003}\n"
    )
    jobs = plan(workdir, "submission", configs=[*configs, changed], snakefile=snakefile)
    assert rules_of(jobs) == RETRAINED
    assert outputs_of(jobs, "predict") == [
        "results/predictions/expr/small_transformer.parquet",
        "results/predictions/va/small_transformer.parquet",
    ]
    # The ensembles that have it as a member, and no other (each also rewrites its weights table).
    assert [o for o in outputs_of(jobs, "ensemble_predictions") if o.endswith(".parquet")] == [
        "results/predictions/expr/two_transformers.parquet",
        "results/predictions/va/two_transformers.parquet",
        "results/predictions/va/va_mean.parquet",
    ]
    # The submitted experiment's hyperparameter: its submissions are rewritten too.
    changed = layered(tmp_path, "changed_submitted.yaml", "experiments:\n  transformer:\n    recipe: {epochs: 3}\n")
    jobs = plan(workdir, "submission", configs=[*configs, changed], snakefile=snakefile)
    assert rules_of(jobs) == {*RETRAINED, "write_submission", "plot_validation"}
    assert all("/transformer/" in output for output in outputs_of(jobs, "train_temporal_model"))
    assert [o for o in outputs_of(jobs, "write_submission") if o.endswith(".txt")] == [
        "results/submission/au.txt",
        "results/submission/expr.txt",
        "results/submission/va.txt",
    ]


def test_adding_a_fine_tuned_backbone_schedules_its_fine_tuning_and_what_uses_it(small_dag_run, tmp_path):
    snakefile, workdir, configs = small_dag_run
    added = layered(
        tmp_path,
        "fine_tuned.yaml",
        """
backbones:
  fer_va_ft:
    format: fine_tuned
    base: fer_mini_xception
    task: va
    output_width: 128
    fine_tuning: {epochs: 1}
experiments:
  small_transformer:
    backbones: [resnet18_random, fer_va_ft]
""",
    )
    jobs = plan(workdir, "submission", configs=[*configs, added], snakefile=snakefile)
    assert rules_of(jobs) == {
        "fine_tune_backbone",
        "extract_features",
        "merge_feature_shards",
        "cache_feature_matrix",
        *RETRAINED,
    }
    assert outputs_of(jobs, "fine_tune_backbone") == [
        "results/backbones/fer_va_ft/fine_tuned.pt",
        "results/backbones/fer_va_ft/fine_tuning_history.csv",
    ]
    assert outputs_of(jobs, "extract_features") == [
        "results/aff_wild2/features/fer_va_ft/shard0of2.parquet",
        "results/aff_wild2/features/fer_va_ft/shard1of2.parquet",
    ]
    assert {output.split("/")[2] for output in outputs_of(jobs, "train_temporal_model")} == {"small_transformer"}


def test_adding_a_seed_trains_only_that_seeds_runs(small_dag_run, tmp_path):
    snakefile, workdir, configs = small_dag_run
    added = layered(tmp_path, "seed.yaml", "experiments:\n  small_transformer:\n    recipe: {seeds: [0, 5]}\n")
    jobs = plan(workdir, "submission", configs=[*configs, added], snakefile=snakefile)
    assert rules_of(jobs) == RETRAINED
    assert outputs_of(jobs, "train_temporal_model") == [
        f"results/models/small_transformer/{task}/fold0_seed5/{name}"
        for task in ("expr", "va")
        for name in ("history.csv", "model.pt")
    ]


def edit(path, old, new):
    text = Path(path).read_text()
    assert old in text, f"{path} no longer contains {old!r}; update the test"
    Path(path).write_text(text.replace(old, new, 1))


@pytest.fixture
def edited_workflow(small_dag_run, tmp_path):
    """A second copy of the workflow code, for edits, pointed at the completed run."""
    _, workdir, configs = small_dag_run
    return copy_workflow(tmp_path / "workflow"), workdir, configs


def test_comments_docstrings_plumbing_and_the_readme_rerun_nothing(edited_workflow):
    snakefile, workdir, configs = edited_workflow
    code = snakefile.parent
    script = code / "workflow_scripts" / "extract_features.py"
    edit(script, "def main(snakemake):", "# A comment.\ndef main(snakemake):")
    edit(code / "abawflow" / "training" / "temporal.py", '"""', '"""An edited docstring. ')
    edit(code / "abawflow" / "stage_one" / "face_stage.py", "\n\n", "\n\n# Another comment.\n\n")
    # Plumbing (logging, error texts, atomic renames) cannot change results.
    edit(code / "abawflow" / "core" / "rule_runner.py", "def run(", "RUNNER_VERSION = 2\n\n\ndef run(")
    (code / "README.md").write_text((code / "README.md").read_text() + "\nAn added line.\n")
    assert plan(workdir, "submission", configs=configs, snakefile=snakefile) == []


def test_a_code_change_reruns_the_rules_that_run_that_code(edited_workflow):
    snakefile, workdir, configs = edited_workflow
    edit(
        snakefile.parent / "abawflow" / "challenges" / "submission.py", "def ", "SUBMISSION_CODE_VERSION = 2\n\n\ndef "
    )
    jobs = plan(workdir, "submission", configs=configs, snakefile=snakefile)
    # submission.py is imported by predict, the ensembles, evaluation, submission and the validation figures,
    # not by training or features.
    assert rules_of(jobs) == {
        "predict",
        "write_submission",
        "plot_validation",
        "write_runtime_table",
        *AFTER_PREDICTION,
    }
    assert not rules_of(jobs) & EXPENSIVE
    # The trainer: training and what follows it, never the features.
    edit(
        snakefile.parent / "abawflow" / "training" / "temporal.py",
        "def fold_sequences(",
        "TRAINER_VERSION = 2\n\n\ndef fold_sequences(",
    )
    jobs = plan(workdir, "submission", configs=configs, snakefile=snakefile)
    assert rules_of(jobs) == {*RETRAINED, "write_submission", "plot_validation"}


def test_execution_only_settings_rerun_nothing(small_dag_run, tmp_path):
    """Batch sizes, threads, the device, where videos and crops are decoded and the feature memory change speed,
    not results."""
    snakefile, workdir, configs = small_dag_run
    faster = layered(
        tmp_path,
        "execution.yaml",
        "faces: {batch_size: 7}\ndevice: cuda:1\nfeature_memory_gb: 0.5\nstage_one_threads: 1\njpeg_decoding: host\n"
        "video_decoding: nvdec\n"
        "backbones:\n  resnet18_random: {batch_size: 5}\n  fer_mini_xception: {batch_size: 3}\n",
    )
    assert plan(workdir, "submission", configs=[*configs, faster], snakefile=snakefile) == []


def test_a_backbones_precision_reruns_its_features_and_not_the_fine_tuning_based_on_it(small_dag_run, tmp_path):
    snakefile, workdir, configs = small_dag_run
    bf16 = layered(tmp_path, "precision.yaml", "backbones:\n  fer_mini_xception: {precision: bf16}\n")
    jobs = plan(workdir, "submission", configs=[*configs, bf16], snakefile=snakefile)
    assert outputs_of(jobs, "extract_features") == [
        f"results/aff_wild2/features/fer_mini_xception/shard{shard}of2.parquet" for shard in (0, 1)
    ]
    assert not rules_of(jobs) & {"fine_tune_backbone", "pretrain_mae", "detect_and_align_faces"}


def reversed_keys(value):
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    return value


def test_a_config_with_its_keys_in_another_order_replans_nothing(edited_workflow):
    """After a YAML round-trip (comments gone, keys in another order) the plan is the same."""
    import yaml

    snakefile, workdir, configs = edited_workflow
    default = snakefile.parent / "config.yaml"
    default.write_text(yaml.safe_dump(reversed_keys(yaml.safe_load(default.read_text())), sort_keys=False))
    layer = reversed_keys(yaml.safe_load(configs[0].read_text()))
    shuffled = default.with_name("small_dag_reversed.yaml")
    shuffled.write_text(yaml.safe_dump(layer, sort_keys=False))
    assert plan(workdir, "submission", configs=[shuffled], snakefile=snakefile) == []


def test_the_index_notices_added_removed_and_edited_dataset_files(small_dag_run, tmp_path):
    """A user's dataset root: its folder's time stamp hides changes deep inside it; the index sees them.
    A label change re-indexes the labels only; a new subject or video redoes the faces too."""
    snakefile, workdir, configs = small_dag_run
    shutil.copytree(workdir / "resources" / "demo", tmp_path / "user_data")
    configs = [*configs, layered(tmp_path, "user.yaml", "dataset: {root: user_data}\n")]
    targets = [
        "results/aff_wild2/index/splits.parquet",
        "results/aff_wild2/faces/detected/shard0of2.parquet",
        "results/aff_wild2/faces/detected/shard1of2.parquet",
    ]

    def planned():
        return rules_of(plan(tmp_path, *targets, configs=configs, snakefile=snakefile))

    result = snakemake(tmp_path, *targets, configs=configs, snakefile=snakefile)
    assert result.returncode == 0, result.stderr[-3000:]
    assert planned() == set()
    annotations = tmp_path / "user_data" / "6th_ABAW_Annotations" / "VA_Estimation_Challenge" / "Train_Set"
    elsewhere = {p.stem for p in annotations.parents[1].rglob("*.txt") if annotations.parent not in p.parents}
    first = next(p for p in sorted(annotations.glob("*.txt")) if p.stem in elsewhere)
    moved = first.rename(tmp_path / "moved.txt")  # removed (a rename keeps the time stamp)
    assert planned() == {"index_annotations"}  # the subject is still named by another task's files
    moved.rename(first)  # back as it was
    assert planned() == set()
    first.write_text(first.read_text() + "0.1,0.1\n")  # edited: labels only
    assert planned() == {"index_annotations"}
    (annotations / "new_subject.txt").write_text("valence,arousal\n")  # a subject no file named before
    assert planned() == {"index_annotations", "index_videos", "detect_and_align_faces"}


def test_the_organizers_crops_replace_detection_and_give_features_like_it(small_dag_run, tmp_path):
    """dataset.face_source: cropped_aligned reads the release's crops instead of detecting; the features
    that follow look like the detected faces' (same rows, the same frames with a face, similar vectors)."""
    import numpy as np
    import polars as pl

    snakefile, workdir, configs = small_dag_run
    configs = [*configs, layered(tmp_path, "crops.yaml", "dataset: {face_source: cropped_aligned}\n")]
    jobs = plan(workdir, "submission", configs=configs, snakefile=snakefile)
    assert outputs_of(jobs, "read_face_crops") == [
        "results/aff_wild2/faces/cropped_aligned/shard0of2.parquet",
        "results/aff_wild2/faces/cropped_aligned/shard1of2.parquet",
    ]
    assert not rules_of(jobs) & {"detect_and_align_faces", "index_videos", "index_annotations", "demo_data"}
    assert {"extract_features", "fine_tune_backbone", "pretrain_mae", "train_temporal_model"} <= rules_of(jobs)

    crops_run = tmp_path / "crops_run"
    crops_run.mkdir()
    (crops_run / "resources").symlink_to(workdir / "resources")
    target = "results/aff_wild2/features/resnet18_random.parquet"
    result = snakemake(crops_run, target, configs=configs, snakefile=snakefile)
    assert result.returncode == 0, result.stderr[-3000:]
    keys = ["subject", "frame"]
    detected = pl.read_parquet(workdir / target).sort(keys)
    cropped = pl.read_parquet(crops_run / target).sort(keys)
    assert cropped.schema == detected.schema and cropped.select(keys).equals(detected.select(keys))
    assert (cropped["face_found"] == detected["face_found"]).mean() > 0.95
    both = (cropped["face_found"] & detected["face_found"]).to_numpy()
    a, b = (np.stack(t["feature"].to_numpy()[both]) for t in (detected, cropped))
    a, b = (x / np.linalg.norm(x, axis=1, keepdims=True) for x in (a, b))
    same_frame = (a * b).sum(1).mean()
    other_frame = (a * np.roll(b, len(b) // 2, axis=0)).sum(1).mean()
    assert same_frame > other_frame + 0.5 * (1 - other_frame)


def test_adding_an_audio_backbone_extracts_only_its_table_and_trains_what_uses_it(small_dag_run, tmp_path):
    snakefile, workdir, configs = small_dag_run
    added = layered(
        tmp_path,
        "added_audio.yaml",
        """
backbones:
  log_mel_fine:
    format: audio
    extractor: log_mel_statistics
    audio: {mels: 48, window_seconds: 0.5}
    output_width: 96
experiments:
  small_transformer:
    backbones: [resnet18_random, log_mel_fine]
""",
    )
    jobs = plan(workdir, "submission", configs=[*configs, added], snakefile=snakefile)
    # No decoding of faces, no image features: the sound's table and the experiment that fuses it.
    assert rules_of(jobs) == {"extract_audio_features", "cache_feature_matrix", *RETRAINED}
    assert outputs_of(jobs, "extract_audio_features") == ["results/aff_wild2/features/log_mel_fine.parquet"]
    assert outputs_of(jobs, "cache_feature_matrix") == [
        "results/aff_wild2/features/matrices/log_mel_fine.npy",
        "results/aff_wild2/features/matrices/log_mel_fine.rows.parquet",
    ]
    assert {output.split("/")[2] for output in outputs_of(jobs, "train_temporal_model")} == {"small_transformer"}

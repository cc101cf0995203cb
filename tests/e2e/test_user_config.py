"""A researcher's own run, as the README tells them to start one: their config layered on the default, their
data outside the repository, their own checkpoint. The dry run plans exactly the work the config names."""

import os
import shutil
import time

import pytest
import timm
import torch
from support.dag import REPOSITORY, job_counts, snakemake

from abawflow.datasets.demo.aff_wild2 import make_demo_dataset

pytestmark = pytest.mark.e2e

# config/real_data.yaml: docs/configuration.md's example, VA, EXPR and AU with one experiment.
REAL_DATA = REPOSITORY / "config" / "real_data.yaml"
REAL_DATA_JOBS = {
    "index_annotations": 1,
    "index_videos": 1,
    "detect_and_align_faces": 1,
    "plot_face_detection": 1,
    "extract_features": 1,
    "merge_feature_shards": 1,
    "cache_feature_matrix": 1,
    "train_temporal_model": 3,
    "plot_learning_curves": 1,
    "predict": 3,
    "evaluate_validation": 1,
    "plot_validation": 3,
    "write_runtime_table": 1,
    "write_submission": 3,
    "write_score_table": 3,
    "write_report_description": 1,
    "submission": 1,
}
# What follows a replaced checkpoint: its features and everything downstream, not the index or the faces (nor
# the runtime table here: the touched outputs below have no benchmark files for it to read).
BEFORE_FEATURES = ("index_annotations", "index_videos", "detect_and_align_faces", "plot_face_detection")
AFTER_FEATURES = {
    rule: count for rule, count in REAL_DATA_JOBS.items() if rule not in (*BEFORE_FEATURES, "write_runtime_table")
}


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    """A copy of the demo dataset and a timm state_dict (classifier included) outside the repository, and a
    file that points the example config at them."""
    outside = tmp_path_factory.mktemp("researcher")
    make_demo_dataset(outside / "Aff-Wild2", seed=0, videos=6, frames_per_video=60)
    checkpoint = outside / "weights" / "face_resnet18.pth"
    checkpoint.parent.mkdir()
    torch.manual_seed(0)
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), checkpoint)
    paths = outside / "paths.yaml"
    paths.write_text(
        f"dataset: {{root: {outside / 'Aff-Wild2'}}}\nbackbones: {{face_resnet18: {{checkpoint: {checkpoint}}}}}\n"
    )
    workdir = outside / "run"
    workdir.mkdir()
    return workdir, [REAL_DATA, paths], checkpoint


def dry_run(workdir, configs):
    result = snakemake(workdir, "--dry-run", "submission", configs=configs)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return output


def test_the_real_data_example_plans_exactly_its_work(user_run):
    workdir, configs, checkpoint = user_run
    output = dry_run(workdir, configs)
    assert job_counts(output) == REAL_DATA_JOBS
    # The summary comes before the job list and says what runs.
    summary = output[output.index("abawflow plan:") : output.index("Job stats:")]
    assert "methods of the config's own" in summary
    assert f"face_resnet18 (resnet18, {checkpoint})" in summary
    assert "transformer (va, expr, au; 3 training runs)" in summary
    assert "va <- transformer, expr <- transformer, au <- transformer" in summary
    # The checkpoint is an input of the features it makes.
    assert f"input: results/aff_wild2/faces/detected/shard0of1.parquet, {checkpoint}" in output


def test_a_missing_or_misfit_checkpoint_stops_the_dry_run(user_run, tmp_path):
    workdir, configs, checkpoint = user_run
    typo = tmp_path / "typo.yaml"
    typo.write_text(f"backbones: {{face_resnet18: {{checkpoint: {checkpoint.with_name('face_resnet81.pth')}}}}}\n")
    result = snakemake(workdir, "--dry-run", configs=[*configs, typo])
    assert result.returncode != 0
    missing = checkpoint.with_name("face_resnet81.pth")
    assert f"backbones.face_resnet18.checkpoint: {missing} not found" in result.stdout + result.stderr
    other = tmp_path / "other.yaml"
    other.write_text("backbones: {face_resnet18: {architecture: resnet34}}\n")
    result = snakemake(workdir, "--dry-run", configs=[*configs, other])
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "backbones.face_resnet18.checkpoint does not fit resnet34" in output
    assert "missing keys (96): layer1.2.bn1.bias" in output


def test_another_editions_folder_names_stop_the_dry_run(user_run, tmp_path):
    workdir, configs, _ = user_run
    edition = tmp_path / "edition.yaml"
    edition.write_text("dataset: {edition: 5}\n")
    result = snakemake(workdir, "--dry-run", configs=[*configs, edition])
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "5th_ABAW_Annotations: folder not found (dataset.annotation_folder;" in output
    assert "holds: 6th_ABAW_Annotations/, cropped_aligned/, names_of_videos_in_each_test_set/, videos/" in output


def test_a_replaced_checkpoint_reruns_its_features_and_what_follows(user_run, tmp_path):
    """Every planned output made up to date (Snakemake's --touch over files laid down in plan order), then the
    checkpoint replaced in place: the plan is its features and everything downstream, no face job."""
    workdir, configs, checkpoint = user_run
    copy = tmp_path / "run"
    shutil.copytree(workdir, copy)
    output = dry_run(copy, configs)
    for line in output.splitlines():
        if line.strip().startswith("output:"):
            for name in line.split(":", 1)[1].split(","):
                (copy / name.strip()).parent.mkdir(parents=True, exist_ok=True)
                (copy / name.strip()).touch()
    touched = snakemake(copy, "--touch", "submission", configs=configs)
    assert touched.returncode == 0, touched.stderr[-3000:]
    assert job_counts(dry_run(copy, configs)) == {}
    replaced = tmp_path / "replaced.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), replaced)
    later = time.time() + 10  # after every touched output
    os.replace(replaced, checkpoint)
    os.utime(checkpoint, (later, later))
    assert job_counts(dry_run(copy, configs)) == AFTER_FEATURES


# config/papers.yaml on the demo's paths: the five papers' runs and nothing of the demo's methods.
PAPERS_JOBS = {
    "demo_data": 1,
    "demo_eri_data": 1,
    "demo_mtl_data": 1,
    "index_annotations": 1,
    "index_hume_reaction": 1,
    "index_s_aff_wild2": 1,
    "index_videos": 1,
    "detect_and_align_faces": 2,  # Aff-Wild2 and Hume-Reaction; s-Aff-Wild2 reads the organizers' crops
    "read_face_crops": 1,
    "extract_audio_features": 1,  # DeepSpectrum on Hume-Reaction
    "extract_features": 9,  # Aff-Wild2: 6 backbones, s-Aff-Wild2: 2, Hume-Reaction: 1
    "merge_feature_shards": 9,
    "cache_feature_matrix": 10,
    "plot_face_detection": 3,
    "pretrain_mae": 1,
    "evaluate_mae_pretraining": 1,
    "fine_tune_backbone": 1,
    # paper000 3, paper001 2 x (multitask, mtl) x 2 seeds, paper002 1 + 1, paper003 3 tasks x 5 folds, paper004 5
    "train_temporal_model": 33,
    "plot_learning_curves": 11,
    "predict": 21,
    "ensemble_predictions": 6,
    "evaluate_validation": 1,
    "plot_validation": 3,
    "write_runtime_table": 1,
    "write_submission": 4,
    "write_submission_csv": 1,
    "write_score_table": 5,
    "write_report_description": 1,
    "submission": 1,
}


def test_the_papers_config_plans_the_papers_runs_and_nothing_else(tmp_path):
    """config/papers.yaml, with its checkpoints (timm state dicts of its architectures) where it names them."""
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    for architecture, name in [
        ("resnet18", "resnet18_face"),
        ("swin_small_patch4_window7_224", "swin_small_face"),
        ("densenet121", "densenet121_imagenet"),
        ("hrnet_w32", "hrnet_w32_msceleb"),
        ("repvgg_b1", "repvgg_b1_msceleb"),
    ]:
        torch.save(timm.create_model(architecture, pretrained=False).state_dict(), checkpoints / f"{name}.pth")
    # Paper 004's IR152 comes as ONNX: a small network of the same input and output width stands in.
    embedding = torch.nn.Sequential(
        torch.nn.Conv2d(3, 512, 16, stride=16), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )
    images = torch.randn(2, 3, 112, 112)
    path = checkpoints / "iresnet152_msceleb.onnx"
    torch.onnx.export(
        embedding.eval(), (images,), path, input_names=["image"], dynamic_axes={"image": {0: "batch"}}, dynamo=False
    )
    for corpus in ["AffectNet", "RAF-DB", "FER2013", "FERPlus"]:  # paper 003's MAE corpus, as folders of images
        (tmp_path / "corpora" / corpus).mkdir(parents=True)
    demo_paths = tmp_path / "demo_paths.yaml"
    demo_paths.write_text(
        "dataset: {root: resources/demo}\nmtl: {root: resources/demo_mtl}\neri: {root: resources/demo_eri}\n"
    )
    output = dry_run(tmp_path, [REPOSITORY / "config" / "papers.yaml", demo_paths])
    assert job_counts(output) == PAPERS_JOBS
    for run in [
        "results/models/paper001_lstm/multitask/fold0_seed1/model.pt",
        "results/models/paper001_transformer/mtl/fold0_seed0/model.pt",
        "results/models/paper003_tcn_transformer/au/fold4_seed0/model.pt",
        "results/models/paper004_cascade_smooth/expr/fold0_seed0/model.pt",
        "results/models/paper004_negative_repvgg/expr/fold0_seed0/model.pt",
        "results/predictions/expr/paper004_cascade.parquet",
        "results/aff_wild2/features/ir152_face.parquet",
        "results/predictions/expr/expr_zoo.parquet",
        "results/backbones/vit_base_mae/mae.pt",
        "corpora/FERPlus",  # an input of pretrain_mae
        "results/backbones/vit_base_mae_expr_ft/fine_tuned.pt",
        "results/submission/mtl.txt",
        "results/models/paper002_eri/eri/fold0_seed0/model.pt",
        "results/hume_reaction/features/deep_spectrum_densenet121.parquet",
        "results/submission/eri.csv",
    ]:
        assert run in output, run
    assert "resnet18_random" not in output and "three_encoders" not in output

"""Every long job killed halfway through its own progress resumes to the bytes of an uninterrupted run.

The kill is a lost node's: SIGKILL to Snakemake and every job beside it, sent by the job itself when its
loop passes the chosen share of its total (``ABAWFLOW_KILL_AT``, abawflow/core/progress.py), so the point
is the same on every machine. The rerun is plain ``snakemake`` after ``--unlock``, as the README says.
"""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.dag import snakemake

pytestmark = pytest.mark.e2e

FACES = "results/aff_wild2/faces"
FEATURES = "results/aff_wild2/features"

# stage (as its loop names it) -> (the outputs of the one job killed, a config layer over the small DAG's).
# Each training loop runs two epochs and is killed inside the second, so it resumes from the first's state.
KILLED_JOBS = {
    "faces": ([f"{FACES}/detected/shard0of2.parquet"], ""),
    "crops": ([f"{FACES}/cropped_aligned/shard0of2.parquet"], "dataset: {face_source: cropped_aligned}\n"),
    "features": ([f"{FEATURES}/resnet18_random/shard0of2.parquet"], ""),
    "audio": ([f"{FEATURES}/log_mel.parquet"], ""),
    "fine-tuning": (
        ["results/backbones/fer_expr_ft/fine_tuned.pt", "results/backbones/fer_expr_ft/fine_tuning_history.csv"],
        "backbones: {fer_expr_ft: {fine_tuning: {epochs: 2}}}\n",
    ),
    "MAE pre-training": (["results/backbones/vit_mae/mae.pt", "results/backbones/vit_mae/mae_history.csv"], ""),
    "feature matrix": (
        [f"{FEATURES}/matrices/resnet18_random.npy", f"{FEATURES}/matrices/resnet18_random.rows.parquet"],
        "",
    ),
    "training": (
        ["results/models/transformer/va/fold0_seed0/model.pt", "results/models/transformer/va/fold0_seed0/history.csv"],
        "",
    ),
    "prediction": (["results/predictions/va/transformer.parquet"], ""),
    "bundle": (["results/bundle"], ""),
}
RESUMED_FROM_STATE = {"fine-tuning", "MAE pre-training", "training"}


def files_of(workdir, outputs):
    """Relative path -> bytes of every file of ``outputs`` (a folder's files, Snakemake's stamp aside)."""
    found = {}
    for output in outputs:
        path = workdir / output
        paths = [p for p in sorted(path.rglob("*")) if p.is_file()] if path.is_dir() else [path]
        for file in paths:
            if file.name != ".snakemake_timestamp":
                found[str(file.relative_to(workdir))] = file.read_bytes()
    return found


def copy_run(finished, workdir, outputs):
    """A copy of a finished run without ``outputs``; file times kept, so nothing upstream of them reruns."""
    shutil.copytree(finished, workdir, symlinks=True)
    for output in outputs:
        path = workdir / output
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    return workdir


def killed_run(workdir, snakefile, configs, outputs, stage):
    """Snakemake for ``outputs`` with the kill asked for at half of ``stage``'s progress: its return code."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir)]
    command += ["--cores", "2", *outputs, "--configfile", *map(str, configs)]
    with open(workdir / "killed_run.log", "w") as log:
        process = subprocess.run(
            command,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ABAWFLOW_KILL_AT": f"{stage}:0.5"},
            start_new_session=True,  # its own process group: the one the job kills
            timeout=1800,
        )
    return process.returncode


@pytest.mark.parametrize("stage", list(KILLED_JOBS))
def test_a_job_killed_halfway_resumes_to_the_uninterrupted_runs_bytes(small_dag_run, tmp_path, stage):
    snakefile, finished, configs = small_dag_run
    outputs, layer = KILLED_JOBS[stage]
    if layer:
        (tmp_path / "layer.yaml").write_text(layer)
        configs = [*configs, tmp_path / "layer.yaml"]
    if not layer and all((finished / output).exists() for output in outputs):
        reference = files_of(finished, outputs)  # the small DAG's complete run
    else:  # outputs the small DAG does not make, or makes otherwise: made here, uninterrupted
        uninterrupted = copy_run(finished, tmp_path / "uninterrupted", outputs)
        result = snakemake(uninterrupted, *outputs, configs=configs, snakefile=snakefile)
        assert result.returncode == 0, result.stderr[-3000:]
        reference = files_of(uninterrupted, outputs)

    workdir = copy_run(finished, tmp_path / "killed", outputs)
    assert killed_run(workdir, snakefile, configs, outputs, stage) == -signal.SIGKILL, (
        workdir / "killed_run.log"
    ).read_text()[-3000:]
    assert not all((workdir / output).exists() for output in outputs)  # nothing complete-looking was left
    unlocked = snakemake(workdir, "--unlock", *outputs, configs=configs, snakefile=snakefile)
    assert unlocked.returncode == 0, unlocked.stderr[-3000:]
    rerun = snakemake(workdir, *outputs, configs=configs, snakefile=snakefile)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    if stage in RESUMED_FROM_STATE:
        logs = "".join(path.read_text() for path in (workdir / "logs").rglob("*.log"))
        assert "resuming after epoch 1" in logs
    assert not list(Path(workdir, "results").rglob("*.partial"))
    resumed = files_of(workdir, outputs)
    assert resumed.keys() == reference.keys()
    for path, data in reference.items():
        assert resumed[path] == data, path

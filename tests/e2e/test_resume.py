"""A run killed (SIGKILL to Snakemake and its jobs) during feature extraction, then during training, and
started again each time, finishes with the outputs of an uninterrupted run."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from support.dag import snakemake

pytestmark = pytest.mark.e2e

TARGET = "results/predictions/va/transformer.parquet"
# Long enough (a few seconds) to be killed mid-training on the small DAG.
LONG_TRAINING = "experiments:\n  transformer:\n    recipe: {epochs: 150}\n"


def unlock(workdir, snakefile, configs):
    """A SIGKILLed Snakemake cannot release its lock on the working directory (README: after a crash)."""
    unlocked = snakemake(workdir, "--unlock", TARGET, configs=configs, snakefile=snakefile)
    assert unlocked.returncode == 0, unlocked.stderr[-3000:]


def start(workdir, snakefile, configs):
    unlock(workdir, snakefile, configs)
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir)]
    command += ["--cores", "2", TARGET, "--configfile", *map(str, configs)]
    return subprocess.Popen(
        command,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "snakemake.log", "a"),
        start_new_session=True,
    )


def kill_when(process, condition, timeout=600):
    """SIGKILL the whole process group (Snakemake and its running job) once `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError("the run ended before the moment it was to be killed at:\n" + log_tail(process))
        assert time.monotonic() < deadline, "timed out waiting for the moment to kill the run"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def log_tail(process):
    return (Path(process.args[process.args.index("--directory") + 1]) / "snakemake.log").read_text()[-4000:]


def read(path):
    return path.read_text() if path.exists() else ""


def complete_outputs_are_readable(workdir):
    for path in (workdir / "results").rglob("*.parquet"):
        pl.read_parquet(path)  # raises on a truncated file


@pytest.fixture(scope="module")
def reference(small_dag_run, tmp_path_factory):
    """The uninterrupted run: the small DAG's completed run, retrained with the long recipe."""
    snakefile, workdir, configs = small_dag_run
    copy = tmp_path_factory.mktemp("reference") / "run"
    shutil.copytree(workdir, copy, symlinks=True)
    long_training = tmp_path_factory.mktemp("configs") / "long_training.yaml"
    long_training.write_text(LONG_TRAINING)
    configs = [*configs, long_training]
    result = snakemake(copy, TARGET, configs=configs, snakefile=snakefile)
    assert result.returncode == 0, result.stderr[-5000:]
    return snakefile, copy, configs


def test_killed_during_extraction_and_training_then_resumed(reference, tmp_path):
    snakefile, reference_dir, configs = reference
    workdir = tmp_path / "run"
    workdir.mkdir()

    extraction_log = workdir / "logs" / "extract_features" / "aff_wild2" / "resnet18_random" / "shard0of2.log"
    kill_when(start(workdir, snakefile, configs), lambda: "RANDOM weights" in read(extraction_log))
    assert not (workdir / "results" / "aff_wild2" / "features" / "resnet18_random.parquet").exists()
    complete_outputs_are_readable(workdir)

    training_log = workdir / "logs" / "train_temporal_model" / "transformer" / "va" / "fold0_seed0.log"
    kill_when(start(workdir, snakefile, configs), lambda: "va epoch 40:" in read(training_log))
    assert not (workdir / "results" / "models" / "transformer" / "va" / "fold0_seed0" / "model.pt").exists()
    complete_outputs_are_readable(workdir)

    unlock(workdir, snakefile, configs)
    result = snakemake(workdir, TARGET, configs=configs, snakefile=snakefile)
    assert result.returncode == 0, result.stderr[-5000:]
    assert "resuming after epoch" in read(training_log)  # the rerun went on from the saved state
    assert not (workdir / "results" / "models" / "transformer" / "va" / "fold0_seed0" / "training_state.pt").exists()
    assert not list((workdir / "results").rglob("*.partial"))
    for path in [
        "results/aff_wild2/faces/detected/shard0of2.parquet",
        "results/aff_wild2/faces/detected/shard1of2.parquet",
        "results/aff_wild2/features/resnet18_random.parquet",
        TARGET,
    ]:
        assert pl.read_parquet(workdir / path).equals(pl.read_parquet(reference_dir / path)), path
    history = "results/models/transformer/va/fold0_seed0/history.csv"
    assert (workdir / history).read_text() == (reference_dir / history).read_text()

"""The small DAG through `--profile profiles/slurm` on a real single-node SLURM, compared with a local run.

tests/cluster/slurm.sh installs (CI: `.ci/run`) and starts SLURM. Without SLURM installed the
test is skipped, unless ABAWFLOW_REQUIRE_SLURM=1 (set by `.ci/run`) makes that a failure.
"""

import os
import re
import shutil
import subprocess
import sys
import time

import polars as pl
import pytest
import yaml
from support.dag import REPOSITORY, snakemake

pytestmark = pytest.mark.cluster

SLURM_SCRIPT = REPOSITORY / "tests" / "cluster" / "slurm.sh"
# A GPU rule on both shards, the merge, training and prediction of one experiment.
TARGET = "results/predictions/va/transformer.parquet"
COMPARED = [
    "results/aff_wild2/faces/detected/shard0of2.parquet",
    "results/aff_wild2/faces/detected/shard1of2.parquet",
    "results/aff_wild2/features/resnet18_random.parquet",
]
TRAINED = [
    "results/models/transformer/va/fold0_seed0/model.pt",
    "results/models/transformer/va/fold0_seed0/history.csv",
    TARGET,
]
# Long enough (some ten seconds) to cancel the training job in the middle.
LONG_TRAINING = "experiments:\n  transformer:\n    recipe: {epochs: 300}\n"


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    if shutil.which("slurmctld") is None or shutil.which("munged") is None:
        message = "SLURM is not installed; run `tests/cluster/slurm.sh install` (as root)"
        if os.environ.get("ABAWFLOW_REQUIRE_SLURM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    state = tmp_path_factory.mktemp("slurm")
    environment = {**os.environ, "SLURM_DIR": str(state)}
    started = subprocess.run([SLURM_SCRIPT, "start"], capture_output=True, text=True, env=environment)
    if started.returncode != 0:  # no daemon of a failed start is left behind
        subprocess.run([SLURM_SCRIPT, "stop"], env=environment, check=False)
    assert started.returncode == 0, started.stdout + started.stderr
    yield state
    subprocess.run([SLURM_SCRIPT, "stop"], env=environment, check=False)


def test_profile_sets_the_account_the_slurm_executor_retries_and_a_cpu_and_a_gpu_partition():
    profile = yaml.safe_load((REPOSITORY / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert set(profile["default-resources"]) == {"slurm_account"}  # no partition: it would override the choice
    assert profile["retries"] >= 1 and profile["slurm-requeue"]  # a cancelled or preempted job runs again
    partitions = yaml.safe_load((REPOSITORY / "profiles" / "slurm" / profile["slurm-partition-config"]).read_text())
    assert partitions["partitions"]["cpu"]["max_gpu"] == 0 and partitions["partitions"]["gpu"]["max_gpu"] > 0


def slurm_profile(tmp_path):
    """The committed profile and its partitions (this cluster has a `cpu` and a `gpu` partition), with the
    edits its comments describe for a cluster without accounting (no account, squeue for status)."""
    profile = yaml.safe_load((REPOSITORY / "profiles" / "slurm" / "config.yaml").read_text())
    del profile["default-resources"]
    profile.update(
        {
            "slurm-no-account": True,
            "slurm-status-command": "squeue",
            "slurm-init-seconds-before-status-checks": 5,
            "latency-wait": 5,
        }
    )
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "config.yaml").write_text(yaml.safe_dump(profile))
    shutil.copy(REPOSITORY / "profiles" / "slurm" / "partitions.yaml", tmp_path / "profile")
    return tmp_path / "profile"


def cancel_when(process, log, line, timeout=900):
    """``scancel`` the SLURM job that writes ``log`` once the log shows ``line``: the job id it logged."""
    deadline = time.monotonic() + timeout
    while line not in (text := log.read_text() if log.exists() else ""):
        assert process.poll() is None, "the run ended before the job was cancelled"
        assert time.monotonic() < deadline, f"{log} never showed {line!r}"
        time.sleep(0.05)
    job = re.search(r"SLURM job (\d+)", text).group(1)
    subprocess.run(["scancel", job], check=True)
    return job


def test_small_dag_on_slurm_matches_the_local_run_through_a_cancelled_training_job(
    slurm_cluster, small_dag_run, tmp_path
):
    snakefile, local_workdir, configs = small_dag_run
    # Training long enough to be cancelled in the middle; the local reference trains as long, uninterrupted.
    (tmp_path / "long_training.yaml").write_text(LONG_TRAINING)
    configs = [*configs, tmp_path / "long_training.yaml"]
    reference = tmp_path / "reference"
    shutil.copytree(local_workdir, reference, symlinks=True)
    for path in TRAINED:
        (reference / path).unlink()
    local = snakemake(reference, TARGET, configs=configs, snakefile=snakefile)
    assert local.returncode == 0, local.stderr[-3000:]

    workdir = tmp_path / "run"
    workdir.mkdir()
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir)]
    command += ["--profile", str(slurm_profile(tmp_path)), TARGET, "--configfile", *map(str, configs)]
    with open(tmp_path / "snakemake.log", "w") as output:
        process = subprocess.Popen(command, cwd=workdir, stdout=output, stderr=subprocess.STDOUT)
        try:
            training_log = workdir / "logs" / "train_temporal_model" / "transformer" / "va" / "fold0_seed0.log"
            cancelled = cancel_when(process, training_log, "va epoch 20:")
            assert process.wait(timeout=1500) == 0, (tmp_path / "snakemake.log").read_text()[-6000:]
        finally:
            process.kill()
    text = (tmp_path / "snakemake.log").read_text()
    assert "has been submitted with SLURM jobid" in text
    # The cancelled job was submitted again (the profile's retries) and went on from its saved state.
    final_log = training_log.read_text()
    assert re.search(r"SLURM job (\d+)", final_log).group(1) != cancelled
    assert "resuming after epoch" in final_log
    for path in COMPARED:
        assert pl.read_parquet(workdir / path).equals(pl.read_parquet(local_workdir / path)), path
    for path in TRAINED:
        assert (workdir / path).read_bytes() == (reference / path).read_bytes(), path
    # Each rule ran as a SLURM job; the GPU rules in the GPU partition with a GPU, the others in the CPU
    # partition without one.
    gpu_log = (workdir / "logs" / "extract_features" / "aff_wild2" / "resnet18_random" / "shard1of2.log").read_text()
    assert "SLURM job" in gpu_log and "in partition gpu" in gpu_log and "GPUs 0" in gpu_log
    for cpu_rule in ("index_annotations", "index_videos"):
        cpu_log = (workdir / "logs" / f"{cpu_rule}.log").read_text()
        assert "SLURM job" in cpu_log and "in partition cpu" in cpu_log and "GPUs none" in cpu_log, cpu_rule


def test_generic_cluster_profile_submits_through_sbatch(slurm_cluster, small_dag_run, tmp_path):
    snakefile, local_workdir, configs = small_dag_run
    profile = (REPOSITORY / "profiles" / "cluster-generic" / "config.yaml").read_text()
    assert "--partition=gpu" in profile
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "config.yaml").write_text(profile.replace("--partition=gpu", "--partition=main"))
    workdir = tmp_path / "run"
    workdir.mkdir()
    target = "results/aff_wild2/features/resnet18_random/shard1of2.parquet"
    result = snakemake(
        workdir, "--profile", str(tmp_path / "profile"), target, configs=configs, snakefile=snakefile, timeout=1200
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert pl.read_parquet(workdir / target).equals(pl.read_parquet(local_workdir / target))
    gpu_log = (workdir / "logs" / "extract_features" / "aff_wild2" / "resnet18_random" / "shard1of2.log").read_text()
    assert "SLURM job" in gpu_log and "GPUs 0" in gpu_log
    assert sorted(path.name.split("-")[0] for path in (workdir / "logs" / "cluster").iterdir()) == [
        "demo_data",
        "detect_and_align_faces",
        "extract_features",
        "index_annotations",
        "index_videos",
    ]

"""A disk that fills up while a job writes: the message names the folder and says the disk is full, and no
output is left that looks complete. On a small tmpfs, where the test may mount one (root); skipped elsewhere."""

import gc
import os
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
import torch

from abawflow.core.atomic import atomic_folder, atomic_path, write_parquet, write_text
from abawflow.core.rule_runner import run

SIZE_MB = 4


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(mount)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        gc.collect()  # a failed writer's file handle, which would keep the mount busy
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(mount)], check=True)  # never leave a mount behind


def big_table():
    rng = np.random.default_rng(0)
    return pl.DataFrame({"values": rng.random(2 * SIZE_MB * 2**20 // 8)})  # twice the disk, incompressible


def write_checkpoint(path):
    with atomic_path(path) as temporary:
        torch.save({"state_dict": {"weight": torch.rand(SIZE_MB * 2**20 // 2)}}, temporary)


def write_report(path):
    write_text(path, "<table>" + "<tr><td>0.1234</td></tr>" * (SIZE_MB * 2**20 // 10) + "</table>")


def write_bundle(path, source):
    source.write_bytes(os.urandom(2 * SIZE_MB * 2**20))
    with atomic_folder(path) as staging:
        shutil.copy(source, staging / "model.bin")


WRITERS = {
    "parquet": lambda path: write_parquet(big_table(), path),
    "checkpoint": write_checkpoint,
    "report": write_report,
    "bundle": lambda path: write_bundle(path, path.parents[2] / "model.bin"),  # copied from another disk
}


@pytest.mark.parametrize("writer", WRITERS)
def test_a_full_disk_is_named_and_leaves_nothing_half_written(small_disk, tmp_path, writer):
    output = small_disk / "results" / f"{writer}.out"
    log = tmp_path / "job.log"
    job = SimpleNamespace(output=[str(output)], log=[str(log)], resources={}, threads=1, rule=f"write_{writer}")
    with pytest.raises(SystemExit) as stopped:
        run(job, lambda snakemake: WRITERS[writer](output))
    assert stopped.value.code == 1
    text = log.read_text()
    assert f"{output.parent}: the disk is full (" in text and "Free space on that disk and run again" in text
    assert "Traceback" not in text and "bug report" not in text
    assert not output.exists() and not list(output.parent.glob(".*.partial"))

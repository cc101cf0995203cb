"""The code fingerprint behind the rules' `code` params, the GPU claim behind profiles/local, and the profiles."""

import subprocess
import sys
import textwrap

import yaml

from abawflow.core.code_fingerprint import _tree_dump, code_fingerprint
from abawflow.core.devices import claim_gpu


def make_project(root, helper_body):
    (root / "workflow_scripts").mkdir(parents=True)
    (root / "abawflow").mkdir()
    (root / "abawflow" / "__init__.py").write_text("")
    (root / "abawflow" / "helper.py").write_text(helper_body)
    (root / "abawflow" / "unused.py").write_text("VALUE = 1\n")
    script = root / "workflow_scripts" / "step.py"
    script.write_text("import numpy\nfrom abawflow.helper import scale\n\nprint(scale(2))\n")
    return script


def test_fingerprint_ignores_comments_docstrings_and_layout_but_not_code(tmp_path):
    helper = "def scale(x):\n    return 2 * x\n"
    base = code_fingerprint(make_project(tmp_path / "a", helper))
    commented = '"""Module docstring."""\n\n# A comment.\ndef scale(x):\n    """Doubles."""\n    return 2*x  # why\n'
    assert code_fingerprint(make_project(tmp_path / "b", commented)) == base
    assert code_fingerprint(make_project(tmp_path / "c", "def scale(x):\n    return 3 * x\n")) != base
    # A module the script does not import does not count.
    (tmp_path / "a" / "abawflow" / "unused.py").write_text("VALUE = 2\n")
    assert code_fingerprint(tmp_path / "a" / "workflow_scripts" / "step.py") == base


def test_fingerprint_follows_imports_transitively(tmp_path):
    helper = "from abawflow.unused import VALUE\n\n\ndef scale(x):\n    return VALUE * x\n"
    script = make_project(tmp_path / "a", helper)
    before = code_fingerprint(script)
    (tmp_path / "a" / "abawflow" / "unused.py").write_text("VALUE = 2\n")
    _tree_dump.cache_clear()  # one Snakemake process sees one version of each file
    assert code_fingerprint(script) != before


CLAIM = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {root!r})
    from abawflow.core.devices import claim_gpu
    print(claim_gpu(lock_folder={locks!r}, poll_seconds=0.1), flush=True)
    time.sleep({hold})
    """
)


def test_parallel_gpu_jobs_take_different_cards(tmp_path, repository, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    locks = tmp_path / "locks"
    jobs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIM.format(root=str(repository), locks=str(locks), hold=1.5)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    cards = sorted(job.communicate(timeout=60)[0].strip() for job in jobs)
    assert cards == ["0", "1"]
    # Once both have ended, their cards are free again.
    third = subprocess.run(
        [sys.executable, "-c", CLAIM.format(root=str(repository), locks=str(locks), hold=0)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert third.stdout.strip() == "0"


def test_one_visible_card_is_used_as_is(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # what SLURM sets for a one-GPU job
    assert claim_gpu(lock_folder=tmp_path) is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert claim_gpu(lock_folder=tmp_path) is None


def test_profiles(repository):
    default = yaml.safe_load((repository / "profiles" / "default" / "config.yaml").read_text())
    assert "code" not in default["rerun-triggers"] and "params" in default["rerun-triggers"]
    local = yaml.safe_load((repository / "profiles" / "local" / "config.yaml").read_text())
    assert local["resources"]["gpu"] >= 1
    generic = yaml.safe_load((repository / "profiles" / "cluster-generic" / "config.yaml").read_text())
    assert generic["executor"] == "cluster-generic" and "{resources.gpu}" in generic["cluster-generic-submit-cmd"]


def test_shards_balance_bytes_and_partition_the_videos():
    from abawflow.stage_one.face_table import assign_shards

    sizes = {"a": 900, "b": 500, "c": 400, "d": 300, "e": 200, "f": 100}
    assignment = assign_shards(sizes, 2)
    assert set(assignment) == set(sizes)
    loads = [sum(sizes[v] for v, shard in assignment.items() if shard == index) for index in range(2)]
    assert loads == [1200, 1200]
    assert assign_shards(dict(reversed(sizes.items())), 2) == assignment  # independent of listing order
    assert set(assign_shards(sizes, 8).values()) == set(range(6))  # more shards than videos: some stay empty

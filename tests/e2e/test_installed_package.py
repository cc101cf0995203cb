"""A plain (non-editable) install of abawflow runs the workflow: the schema ships inside the package, the rules'
scripts import the installed package, and the code fingerprint finds the installed modules."""

import os
import shutil
import subprocess
import sys

from support.dag import CONFIGS, PACKAGE_FOLDERS, REPOSITORY, copy_workflow, planned_jobs


def test_a_non_editable_install_plans_and_runs_the_workflow(tmp_path):
    wheels, site, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
    # Built from a copy: setuptools leaves build/ and *.egg-info beside the sources it builds.
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPOSITORY / name, source / name)
    for name in PACKAGE_FOLDERS:
        shutil.copytree(REPOSITORY / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)]
    subprocess.run([*build, str(source)], check=True, capture_output=True, timeout=600)
    (wheel,) = wheels.glob("abawflow-*.whl")
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=600)
    assert (site / "abawflow" / "plan" / "config.schema.yaml").is_file()
    # The workflow without the package's sources beside it: only the installed package can serve it.
    workflow = copy_workflow(tmp_path / "workflow", with_package=False).parent
    environment = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import abawflow, models; print(abawflow.__file__, models.__file__)"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.count(str(site)) == 2, where
    workdir = tmp_path / "run"
    workdir.mkdir()
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(workflow / "Snakefile"), "--directory"]
    command += [str(workdir), "--cores", "2"]

    def snakemake(*arguments):
        configs = ["--configfile", str(CONFIGS / "tiny.yaml")]
        run = [*command, *arguments, *configs]
        result = subprocess.run(run, env=environment, cwd=workdir, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    dry_run = snakemake("--dry-run", "submission")
    rules = {rule for rule, _ in planned_jobs(dry_run.stdout + dry_run.stderr)}
    assert {"index_videos", "detect_and_align_faces", "train_temporal_model", "write_submission"} <= rules
    # One real job: a workflow script importing the installed package.
    snakemake("resources/demo_eri")
    assert (workdir / "resources" / "demo_eri" / "data_info.csv").is_file()

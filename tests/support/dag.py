"""Helpers for tests that run the Snakemake DAG: run it, read its dry-run plan, copy the workflow."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
CONFIGS = REPOSITORY / "tests" / "configs"
WORKFLOW_PARTS = ["Snakefile", "config.yaml", "README.md"]
PACKAGE_FOLDERS = ["abawflow", "models"]
WORKFLOW_FOLDERS = [*PACKAGE_FOLDERS, "rules", "workflow_scripts", "profiles", "envs", "report"]


def snakemake(workdir, *arguments, configs=(), snakefile=None, timeout=1800):
    """Run Snakemake on `workdir` with config.yaml + `configs` layered on top (--configfile merges them)."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(snakefile or REPOSITORY / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
    ]
    command += list(arguments)
    if configs:  # last: --configfile takes every following word
        command += ["--configfile", *map(str, configs)]
    return subprocess.run(command, capture_output=True, text=True, cwd=workdir, timeout=timeout)


def copy_workflow(destination, with_package=True):
    """A copy of the workflow's code, to edit in a test without touching the repository; without the package
    (abawflow/, models/) the rules' scripts use the installed one."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_PARTS:
        shutil.copy2(REPOSITORY / name, destination / name)
    for name in [f for f in WORKFLOW_FOLDERS if with_package or f not in PACKAGE_FOLDERS]:
        shutil.copytree(REPOSITORY / name, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
    return destination / "Snakefile"


_JOB_HEADER = re.compile(r"^(?:local)?rule (\w+):$")


def planned_jobs(dry_run_output):
    """(rule, output) for every job in a dry-run plan; a job with several outputs gives several pairs."""
    jobs = []
    rule = None
    for line in dry_run_output.splitlines():
        line = line.strip()
        header = _JOB_HEADER.match(line)
        if header:
            rule = header.group(1)
            if rule == "submission":  # the target rule has no output
                jobs.append((rule, ""))
            continue
        if rule and line.startswith("output:"):
            jobs.extend((rule, output.strip()) for output in line.removeprefix("output:").split(","))
            rule = None
    return jobs


def plan(workdir, *arguments, **options):
    result = snakemake(workdir, "--dry-run", *arguments, **options)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return planned_jobs(result.stdout + result.stderr)


def job_counts(dry_run_output):
    """Rule -> number of jobs, from the job stats table a dry run prints first (without its total)."""
    counts, inside = {}, False
    for line in dry_run_output.splitlines():
        words = line.split()
        if line.startswith("Job stats:"):
            if counts:  # Snakemake prints the table again at the end
                break
            inside = True
        elif inside and len(words) == 2 and words[1].isdigit() and words[0] != "total":
            counts[words[0]] = int(words[1])
        elif inside and words[:1] == ["total"]:
            inside = False
    return counts

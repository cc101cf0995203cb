import copy
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items):
    """Tiers: tests under tests/e2e/ are end-to-end and under tests/cluster/ cluster tests, as is any test
    marked so elsewhere; every other test is a unit test (`make test-fast` runs those). A test marked gpu
    needs CUDA and is skipped without it."""
    import torch

    has_cuda = torch.cuda.is_available()
    for item in items:
        folder = Path(item.path).relative_to(REPOSITORY / "tests").parts[0]
        if folder in ("e2e", "cluster"):
            item.add_marker(getattr(pytest.mark, folder))
        if not any(item.get_closest_marker(tier) for tier in ("e2e", "cluster")):
            item.add_marker(pytest.mark.unit)
        if item.get_closest_marker("gpu") and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))


@pytest.fixture(scope="session")
def repository():
    return REPOSITORY


@pytest.fixture(scope="session")
def default_config(repository):
    """The embedded default run's config: config.yaml with the demo's methods, before the schema fills in
    defaults."""
    from abawflow.plan.config_layers import load_config

    return load_config(repository / "config.yaml")


@pytest.fixture
def config(default_config):
    """A copy of config.yaml that a test may change."""
    return copy.deepcopy(default_config)


@pytest.fixture(scope="session")
def small_dag_run(tmp_path_factory):
    """A complete local run of tests/configs/small_dag.yaml on a copy of the workflow: (snakefile, workdir, configs)."""
    from support.dag import CONFIGS, copy_workflow, snakemake

    snakefile = copy_workflow(tmp_path_factory.mktemp("workflow"))
    workdir = tmp_path_factory.mktemp("small_dag_run")
    configs = [CONFIGS / "small_dag.yaml"]
    result = snakemake(workdir, "submission", configs=configs, snakefile=snakefile)
    assert result.returncode == 0, result.stderr[-5000:]
    return snakefile, workdir, configs

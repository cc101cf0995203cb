from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

try:
    from abawflow.core import execution
    from abawflow.datasets.registry import datasets_with_sound, datasets_with_source
    from abawflow.plan import paths
    from abawflow.plan.schema import validate_config
    from abawflow.plan.workflow import WorkflowPlan, alternatives
except ModuleNotFoundError as error:
    raise WorkflowError(
        f"the abawflow package is not installed in this Python ({error}); run `make venv`, "
        "or `pip install --no-deps -e .` in the repository"
    ) from None

# The schema check fills in every default, in place: the scripts read execution-only settings (batch
# sizes, device) from this config (abawflow/core/execution.py). The plan answers every rule's inputs and
# params (abawflow/plan/workflow.py); every path comes from abawflow/plan/paths.py.
validate_config(config)
PLAN = WorkflowPlan(config, workflow.basedir)
# Execution-only (threads are no rerun trigger): capped at --cores on one machine.
STAGE_ONE_THREADS = execution.settings(config).stage_one_threads


wildcard_constraints:
    dataset=alternatives(PLAN.plan.dataset_roots),
    shard=r"\d+of\d+",
    backbone=alternatives(PLAN.plan.backbones),
    experiment=alternatives(PLAN.plan.experiments),
    ensemble=alternatives(PLAN.plan.ensembles),
    challenge=alternatives(PLAN.challenges),
    target=PLAN.training_targets,
    fold=r"\d+",
    seed=r"\d+",
    video=r"[^/]+",

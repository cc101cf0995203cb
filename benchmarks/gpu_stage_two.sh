#!/usr/bin/env bash
# Stage two on one GPU (issue 16), as one prepared device run of about 6 minutes. The GPU image has torch,
# pyarrow, PyYAML and OpenCV but not polars: carry its two wheels (README "Stage two: training and prediction"):
#   run(command="bash benchmarks/gpu_stage_two.sh", carry=[".whl/stage_two"], timeout_s=540)
# tests/benchmarks/test_benchmarks.py runs the benchmark here without the packages the GPU image lacks.
# Results: $OUT/training_gpu.json (560,000 frames, the three encoders, features resident on the GPU) and
# $OUT/training_gpu_bounded.json (2.8 M frames, transformer, features read from disk with 1 GB allowed).
set -uo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/stage_two/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-benchmarks}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout 240 python3 benchmarks/measure_training.py --device cuda --frames 560000 \
    --workdir /tmp/stage_two_560k --output "$OUT/training_gpu.json"
timeout 240 python3 benchmarks/measure_training.py --device cuda --frames 2800000 --encoders transformer \
    --feature-memory-gb 1 --workdir /tmp/stage_two_2800k --output "$OUT/training_gpu_bounded.json"

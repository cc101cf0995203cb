#!/usr/bin/env bash
# Stage two on a GPU machine, about 6 minutes: benchmarks/measure_training.py on 560,000 frames (the three
# encoders, features resident on the GPU: $OUT/training_gpu.json) and on Aff-Wild2's 2.8 M frames (transformer,
# features read from disk with 1 GB allowed: $OUT/training_gpu_bounded.json). OUT defaults to benchmarks/.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
OUT=${OUT:-benchmarks}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout 240 python3 benchmarks/measure_training.py --device cuda --frames 560000 \
    --workdir /tmp/stage_two_560k --output "$OUT/training_gpu.json"
timeout 240 python3 benchmarks/measure_training.py --device cuda --frames 2800000 --encoders transformer \
    --feature-memory-gb 1 --workdir /tmp/stage_two_2800k --output "$OUT/training_gpu_bounded.json"

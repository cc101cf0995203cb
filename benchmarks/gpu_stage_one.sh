#!/usr/bin/env bash
# Stage one on a GPU machine: the GPU-only tests of stage one, then benchmarks/measure_stage_one.py at the
# sizes a large GPU wants (faces batch 256, all cores, resnet18 @112, resnet50 @224 and ViT-B/16 @224 in bf16,
# crops decoded on the GPU and on the host). About 5 minutes on one H100-class GPU.
#   bash benchmarks/gpu_stage_one.sh          results in $OUT/stage_one_gpu.json (OUT defaults to benchmarks/)
#   bash benchmarks/gpu_stage_one.sh nvdec    the faces stage decoding on NVDEC (pip install PyNvVideoCodec)
# The JSON is rewritten after each part, "complete": false until the end, so a run cut short keeps its figures.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 ABAWFLOW_COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
OUT=${OUT:-benchmarks}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if [ "${1:-}" = nvdec ]; then
    timeout 90 python3 -m pytest -q -p no:cacheprovider -m gpu tests/unit/stage_one/test_video.py 2>&1 \
        | tee "$OUT/stage_one_gpu_nvdec_tests.txt" | tail -5
    timeout 180 python3 benchmarks/measure_stage_one.py --device cuda --threads "$(nproc)" --backbones "" \
        --memory-frames 0 --video-decoding nvdec --output "$OUT/stage_one_gpu_nvdec.json"
    exit
fi
timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/unit/stage_one 2>&1 \
    | tee "$OUT/stage_one_gpu_tests.txt" | tail -5
timeout 360 python3 benchmarks/measure_stage_one.py --device cuda --threads "$(nproc)" \
    --output "$OUT/stage_one_gpu.json"

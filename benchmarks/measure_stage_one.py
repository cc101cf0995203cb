"""Stage one against its ceilings, in one run, on a GPU or on the CPU.

For each frame size (640x360 and 1280x720 by default) it renders demo-style videos and measures, with the
same decoder threads as the stage:
- decoding alone (decode_videos, frames thrown away): frames/s;
- the detector alone on frames already on its device, batched as in the stage: frames/s;
- the faces stage (run_face_stage: decode, detect, pick, align, JPEG, Parquet): frames/s, and its ratio to
  the smaller of the two ceilings.
Then, for each backbone (timm, random weights: the speed does not depend on them), on a face table of real
stage crops:
- the model alone on input already on the device, at the stage's precision (bf16 autocast and channels-last
  on a GPU, fp32 on the CPU): images/s;
- the feature stage (extract_features: read, decode, resize, upload, forward, Parquet): images/s, and the ratio;
  on a GPU, with the crops decoded there (nvJPEG, the default) and, for comparison, on the host.
Last, the peak memory of a faces stage on one video and on one four times as long, and the projection of
Aff-Wild2's 2.8 M frames through faces and every backbone measured.

Usage: python benchmarks/measure_stage_one.py --device cuda --output benchmarks/stage_one_gpu.json
With PyNvVideoCodec: --video-decoding nvdec --backbones "" --memory-frames 0 measures the faces stage on NVDEC.
"""

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402

from abawflow.core.atomic import write_text  # noqa: E402
from abawflow.stage_one.detection import create_detector  # noqa: E402
from abawflow.stage_one.face_stage import (  # noqa: E402
    BatchArrays,
    decode_videos,
    decoder_count,
    decoder_threads,
    frame_route,
    jpeg_encoder_count,
    run_face_stage,
)
from abawflow.stage_one.feature_stage import (  # noqa: E402
    autocast,
    channels_last,
    decode_batch,
    extract_features,
    normalise,
    prepare_model,
    resolve_precision,
)

AFF_WILD2_FRAMES = 2_800_000
GOALS = {"faces_frames_per_second": 2000, "faces_ratio": 0.8, "large_model_ratio": 0.8, "small_model_ratio": 0.5}
MEMORY_PROBE = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from abawflow.stage_one.detection import create_detector
from abawflow.stage_one.face_stage import run_face_stage
root, frames, device, batch = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
detector = create_detector("retinaface_mobilenet", device=device, threads=4)
entry = (sys.argv[6], {"memory": "single"}, frames)
run_face_stage([entry], root, detector, root / "memory.parquet", batch, 112, 95, 4)
import torch
gpu = torch.cuda.max_memory_allocated() // 2**20 if torch.cuda.is_available() else 0
print(gpu, [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")][0], flush=True)
"""


def render_clip(width, height, frames, seed):
    """Frames of one rendered demo video (a face moving, turning, hidden for a stretch), in memory."""
    from abawflow.datasets.demo.aff_wild2 import DemoVideo, FaceRenderer, render_video
    from abawflow.stage_one.video import iter_frame_batches

    path = Path(f"/tmp/abawflow-clip-{width}x{height}-{seed}.mp4")
    render_video(
        DemoVideo("clip", "videos", ".mp4", width, height, ("single",)),
        frames,
        np.random.default_rng(seed),
        FaceRenderer(),
        path,
    )
    return np.concatenate([batch for _, batch in iter_frame_batches(path, 64, frames=frames)])  # no decord needed


def write_video(arguments):
    """A video of ``frames`` frames cycling through a rendered clip from ``offset``: H.264 (libx264 through
    PyAV, one thread) with a long group of pictures, as Aff-Wild2's videos are."""
    import av

    clip, path, frames, offset = arguments
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = clip.shape[2], clip.shape[1], "yuv420p"
        stream.options = {"g": "120", "preset": "veryfast", "threads": "1"}
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(clip[(offset + index) % len(clip)], format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def make_videos(folder, width, height, videos, frames, processes):
    clip = render_clip(width, height, 150, seed=width)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(clip, folder / f"video{index}.mp4", frames, 37 * index) for index in range(videos)]
    with get_context("fork").Pool(processes) as pool:
        paths = pool.map(write_video, jobs)
    return [(f"{path.parent.name}/{path.name}", {path.stem: "single"}, frames) for path in paths]


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def decode_rate(entries, root, batch_size, decoders, threads, pixel_format="rgb24", nvdec_gpu=None, pinned=False):
    """Decoding alone, as the stage decodes: the same decoder threads, pixel format and decoder, and host
    batches reused as the stage reuses them. -> frames/s and the share of frames NVDEC decoded (a video it
    cannot open falls back to the host)."""
    arrays = BatchArrays() if not pinned and nvdec_gpu is None else None
    started, count, on_gpu = time.perf_counter(), 0, 0
    batches = decode_videos(entries, root, batch_size, decoders, threads, 2, pixel_format, nvdec_gpu, pinned, arrays)
    for _, _, frames in batches:
        count += len(frames)
        on_gpu += len(frames) if torch.is_tensor(frames) else 0
        if arrays is not None:
            arrays.give_back(frames)
    synchronize("cuda" if nvdec_gpu is not None else "cpu")
    return count / (time.perf_counter() - started), on_gpu / max(count, 1)


def detector_rate(detector, entries, root, batch_size, device, repeats):
    """The detector on one batch of real frames already on its device (for onnxruntime: in host memory),
    ``detector.concurrency`` copies of it detected at once from as many threads, as the stage does."""
    _, _, frames = next(iter(decode_videos(entries[:1], root, batch_size, 1, 1)))
    on_device = torch.from_numpy(frames).to(device) if getattr(detector, "takes_tensors", False) else frames
    concurrency = getattr(detector, "concurrency", 1)
    with ThreadPoolExecutor(concurrency) as pool:

        def detect_at_once():
            # Returns host detections: the work is done when it returns.
            list(pool.map(detector.detect, [on_device] * concurrency))

        for _ in range(2):
            detect_at_once()
        synchronize(device)
        started = time.perf_counter()
        for _ in range(repeats):
            detect_at_once()
    return repeats * concurrency * len(frames) / (time.perf_counter() - started)


def median_of(measured, key, digits=1):
    """The median of ``key`` over the rounds' figures (dicts), rounded."""
    return round(float(np.median([figures[key] for figures in measured])), digits)


def faces_figures(root, entries, device, batch_size, threads, repeats, video_decoding="host", rounds=1):
    """The faces stage against decoding alone and the detector alone. On a GPU the torch detector takes 4:2:0
    planes (converted on the device), and both ceilings and the stage decode them so; ``video_decoding``
    nvdec decodes on the GPU's NVDEC engines instead. ``rounds``: the three measured one after the other that
    many times; each round's ratio is against the ceilings of its own round, and the figures are the medians
    (a shared machine's speed drifts by more than the goals' margins between minutes)."""
    decoders, decode_threads = decoder_count(threads), decoder_threads(threads)
    detector = create_detector("retinaface_mobilenet", device=device, threads=threads)
    concurrency = getattr(detector, "concurrency", 1)
    # The detector's ceiling is the better of the stage's way (batches side by side on the CPU) and one batch
    # at a time on all the threads.
    one_at_a_time = (
        create_detector("retinaface_mobilenet", device=device, threads=threads, concurrency=1)
        if concurrency > 1
        else None
    )
    route = frame_route(detector, video_decoding=video_decoding)  # the stage's own decoding
    pixel_format, nvdec_gpu = route.pixel_format, route.nvdec_gpu
    # The other pixel format's decoding, for comparison: planes leave FFmpeg's colour conversion to the GPU.
    other_format = {"rgb24": "yuv420p", "yuv420p": "rgb24"}[pixel_format]
    other, _ = decode_rate(entries, root, batch_size, decoders, decode_threads, other_format)
    output = root / "faces.parquet"
    measured = []
    for _ in range(rounds):
        decode, nvdec_share = decode_rate(
            entries, root, batch_size, decoders, decode_threads, pixel_format, nvdec_gpu, route.pinned
        )
        side_by_side = detector_rate(detector, entries, root, batch_size, device, repeats)
        in_turn = detector_rate(one_at_a_time, entries, root, batch_size, device, repeats) if one_at_a_time else 0
        alone = max(side_by_side, in_turn)
        stage_run = partial(
            run_face_stage,
            entries,
            root,
            detector,
            output,
            batch_size,
            112,
            95,
            decode_threads,
            decoders,
            video_decoding=video_decoding,
            encoders=jpeg_encoder_count(threads),
        )
        # Twice: a stage's first seconds touch its batch arrays' fresh memory (on this project's CPU VM, 1-2 s
        # of page faults, a sixth of a 1,200-frame run). A shard of Aff-Wild2 pays that once in tens of
        # thousands of frames, and the ceilings above are measured warm, so the ratio is the second run's.
        cold = stage_run()
        stage = stage_run()
        rate = stage["frames"] / stage["stage_seconds"]
        measured.append(
            {
                "decode": decode,
                "detector": alone,
                "detector_side_by_side": side_by_side,
                "detector_one_batch_at_a_time": in_turn or side_by_side,
                "writer": stage["frames"] / stage["writer_seconds"],
                "stage": rate,
                "stage_cold": cold["frames"] / cold["stage_seconds"],
                "ratio_to_decode": rate / decode,
                "ratio_to_detector": rate / alone,
                "ratio": rate / min(decode, alone),
            }
        )

    median = partial(median_of, measured)

    return output, {
        "frames": stage["frames"],
        "decoders": decoders,
        "decoder_threads": decode_threads,
        "jpeg_encoders": jpeg_encoder_count(threads),
        "video_decoding": video_decoding,
        "frames_decoded_by_nvdec": round(nvdec_share, 3),
        "pixel_format": "rgb24 (NVDEC)" if nvdec_gpu is not None else pixel_format,
        "detector_backend": "torch" if getattr(detector, "takes_tensors", False) else "onnxruntime",
        "rounds": rounds,
        "decode_frames_per_second": median("decode"),
        f"host_decode_frames_per_second_as_{other_format}": round(other, 1),
        "detector_batches_at_once": concurrency,
        "detector_frames_per_second": median("detector"),
        "detector_frames_per_second_batches_at_once": median("detector_side_by_side"),
        "detector_frames_per_second_one_batch_at_a_time": median("detector_one_batch_at_a_time"),
        # The writer thread's own rate in the stage (crops aligned on the host on the CPU path, JPEG, Parquet).
        "writer_frames_per_second": median("writer"),
        "stage_frames_per_second": median("stage"),
        # The same run right after the ceilings, its batch arrays' memory fresh: what a job's first minute sees.
        "stage_frames_per_second_cold": median("stage_cold"),
        "ratio_to_decode": median("ratio_to_decode", 3),
        "ratio_to_detector": median("ratio_to_detector", 3),
        "ratio": median("ratio", 3),
        "ratio_by_round": [round(figures["ratio"], 3) for figures in measured],
        "faces_found": float(pq.read_table(output, columns=["face_found"])["face_found"].to_numpy().mean()),
    }


def crop_table(faces_path, output, rows):
    """A face table of ``rows`` rows made of the faces stage's real crops, repeated."""
    table = pq.read_table(faces_path)
    table = table.filter(table["face_found"])
    copies = -(-rows // table.num_rows)
    repeated = pa.concat_tables([table] * copies).slice(0, rows)
    frames = pa.array(np.arange(1, rows + 1, dtype=np.int32))
    pq.write_table(repeated.set_column(repeated.schema.get_field_index("frame"), "frame", frames), output)
    return output


def model_rate(model, inputs, device, dtype, seconds):
    """The backbone alone on a batch of real crops already on the device, at the stage's precision and memory
    layout (random input is no ceiling: on the CPU it runs slower than images do)."""
    if channels_last(model, device, dtype):
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(device, dtype):
        for _ in range(3):
            model(inputs)
        synchronize(device)
        started, count = time.perf_counter(), 0
        while time.perf_counter() - started < seconds or count < 3 * len(inputs):
            model(inputs)
            count += len(inputs)
            if count % (len(inputs) * 5) == 0:
                synchronize(device)
        synchronize(device)
    return count / (time.perf_counter() - started)


def real_batch(table, size, batch_size, mean, std, device):
    """The first ``batch_size`` crops of the table, resized and normalised as the stage does, on the device."""
    batch = next(pq.ParquetFile(table).iter_batches(batch_size=batch_size))
    *_, images = decode_batch(table, batch, size, "rgb", pin=False)
    return normalise(images.to(device), mean, std)


def feature_figures(name, architecture, size, table, device, batch_size, workers, seconds, rounds=1):
    """The feature stage against the backbone alone; ``rounds`` as in ``faces_figures``."""
    from models.backbones import create_backbone

    dtype = resolve_precision("auto", device)
    model = prepare_model(
        create_backbone(
            architecture, allow_random_weights=True, model_options={"img_size": size} if "vit" in architecture else None
        ),
        device,
        dtype,
    )
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    inputs = real_batch(table, size, batch_size, mean, std, device)
    output = table.with_name(f"{name}.parquet")
    measured = []
    for _ in range(rounds):
        alone = model_rate(model, inputs, device, dtype, seconds)
        stage = extract_features([table], model, output, size, mean, std, batch_size, device, "rgb", "auto", workers)
        rate = stage["images"] / stage["stage_seconds"]
        measured.append({"model": alone, "stage": rate, "ratio": rate / alone})
    median = partial(median_of, measured)
    decodings = {"auto": median("stage")}
    if torch.device(device).type == "cuda":  # the other place to decode the crops, for comparison
        host = extract_features(
            [table], model, output, size, mean, std, batch_size, device, "rgb", "auto", workers, "host"
        )
        decodings["host"] = round(host["images"] / host["stage_seconds"], 1)
    output.unlink()
    return {
        "architecture": architecture,
        "input_size": size,
        "precision": str(dtype).removeprefix("torch."),
        "batch_size": batch_size,
        "workers": workers,
        "images": stage["images"],
        "model_images_per_second": median("model"),
        "stage_images_per_second": median("stage"),
        "ratio": median("ratio", 3),
        "ratio_by_round": [round(figures["ratio"], 3) for figures in measured],
        "stage_images_per_second_by_jpeg_decoding": decodings,
    }


def memory_figures(root, width, height, frames, device, batch_size):
    """Peak RSS (VmHWM) and GPU memory of a faces stage, in a process of its own, on one video and one four
    times longer. Both lengths should be well past the first batches, where onnxruntime's arena grows."""
    figures = {}
    for length in (frames, 4 * frames):
        (entry,) = make_videos(root / f"memory{length}", width, height, 1, length, 1)
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                MEMORY_PROBE,
                str(REPOSITORY),
                str(root),
                str(length),
                device,
                str(batch_size),
                entry[0],
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        gpu, host = result.stdout.split()[-2:]
        figures[str(length)] = (int(host) // 1024, int(gpu))
    return {
        "frames": [int(length) for length in figures],
        "peak_rss_mib": [host for host, _ in figures.values()],
        "peak_gpu_mib": [gpu for _, gpu in figures.values()],
    }


def machine(device):
    info = {"platform": platform.platform(), "cpu_cores": os.cpu_count(), "torch": torch.__version__}
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    try:
        run = lambda *command: subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, check=True)  # noqa: E731
        info["commit"] = run("git", "rev-parse", "HEAD").stdout.strip()
        if run("git", "status", "--porcelain", "--untracked-files=no").stdout.strip():
            info["commit"] += " with uncommitted changes"
    except (OSError, subprocess.CalledProcessError):
        info["commit"] = os.environ.get("ABAWFLOW_COMMIT", "unknown")
    return info


def projection(faces, features):
    """Hours of Aff-Wild2 (2.8 M frames, a crop per frame at most) through faces and each backbone."""
    face_seconds = {size: AFF_WILD2_FRAMES / figures["stage_frames_per_second"] for size, figures in faces.items()}
    feature_seconds = sum(AFF_WILD2_FRAMES / f["stage_images_per_second"] for f in features.values())
    return {
        "frames": AFF_WILD2_FRAMES,
        "backbones": list(features),
        "minutes_by_frame_size": {size: round((s + feature_seconds) / 60, 1) for size, s in face_seconds.items()},
        "feature_minutes": round(feature_seconds / 60, 1),
    }


def save(results, output, complete):
    """Writes the results so far, atomically: a device run cut short by its time limit still leaves them."""
    write_text(output, json.dumps({**results, "complete": complete}, indent=2) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/abawflow-stage-one"))
    parser.add_argument("--sizes", default="640x360,1280x720")
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--frames", type=int, default=1500, help="per video")
    parser.add_argument("--faces-batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument(
        "--backbones", default="resnet18@112,resnet50@224,vit_base_patch16_224@224", help="empty: faces only"
    )
    parser.add_argument("--feature-rows", type=int, default=60000)
    parser.add_argument("--feature-batch", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=5.0, help="timing of each model alone")
    parser.add_argument("--rounds", type=int, default=1, help="each stage and its ceilings, measured this many times")
    parser.add_argument("--memory-frames", type=int, help="default 10 faces batches; 0: skip the memory figures")
    parser.add_argument(
        "--video-decoding", choices=["host", "nvdec"], default="host", help="nvdec: PyNvVideoCodec on the GPU"
    )
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(max(1, arguments.threads if arguments.device == "cpu" else 4))
    results = {
        "machine": machine(arguments.device),
        "device": arguments.device,
        "goals": GOALS,
        "faces": {},
        "features": {},
    }
    crops = None
    for size in arguments.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        root = arguments.workdir / size
        entries = make_videos(root / "videos", width, height, arguments.videos, arguments.frames, arguments.threads)
        faces_path, figures = faces_figures(
            root,
            entries,
            arguments.device,
            arguments.faces_batch,
            arguments.threads,
            5,
            arguments.video_decoding,
            arguments.rounds,
        )
        results["faces"][size] = figures
        print(size, json.dumps(figures), flush=True)
        save(results, arguments.output, complete=False)
        crops = crops or crop_table(faces_path, arguments.workdir / "crops.parquet", arguments.feature_rows)
    workers = max(2, arguments.threads // 2)
    for item in filter(None, arguments.backbones.split(",")):
        architecture, size = item.split("@")
        name = f"{architecture}@{size}"
        results["features"][name] = feature_figures(
            name,
            architecture,
            int(size),
            crops,
            arguments.device,
            arguments.feature_batch,
            workers,
            arguments.seconds,
            arguments.rounds,
        )
        print(name, json.dumps(results["features"][name]), flush=True)
        save(results, arguments.output, complete=False)
    if arguments.memory_frames is None:
        arguments.memory_frames = 10 * arguments.faces_batch
    if arguments.memory_frames:
        first = arguments.sizes.split(",")[0]
        width, height = (int(v) for v in first.split("x"))
        results["memory"] = {
            "frame_size": first,
            **memory_figures(
                arguments.workdir / "memory",
                width,
                height,
                arguments.memory_frames,
                arguments.device,
                arguments.faces_batch,
            ),
        }
    if results["features"]:
        results["projection"] = projection(results["faces"], results["features"])
    save(results, arguments.output, complete=True)
    print(json.dumps(results.get("projection")), flush=True)


if __name__ == "__main__":
    main()

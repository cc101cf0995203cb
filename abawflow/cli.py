"""The ``abawflow`` command: ``abawflow predict VIDEO... --bundle DIR`` runs a model bundle on any video."""

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

from abawflow.core.errors import USER_ERRORS, disk_full
from abawflow.predict.video_prediction import UNDECODABLE_TAIL

log = logging.getLogger("abawflow.predict")


def parser():
    main = argparse.ArgumentParser(prog="abawflow", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    predict = commands.add_parser(
        "predict",
        help="per-frame VA, expression and action units of videos, with a model bundle",
        description="Run a model bundle (snakemake bundle -> results/bundle) on videos of any length, resolution "
        "and container FFmpeg reads (PyAV). Writes OUTPUT/<video name>/: predictions.csv, timeline.png, "
        "summary.json and, with --overlay, overlay.mp4. A video that fails is named and skipped; the command "
        "exits with status 1 after the others, listing the videos that failed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    predict.add_argument("videos", nargs="+", metavar="VIDEO", help="video files, or folders of videos")
    predict.add_argument("--bundle", required=True, type=Path, help="the model bundle folder")
    predict.add_argument("--output", type=Path, default=Path("predictions"), help="where each video's folder goes")
    predict.add_argument(
        "--people",
        choices=("one", "two"),
        default="one",
        help="one: the most confident face of each frame; two: two people followed as left and right",
    )
    predict.add_argument(
        "--overlay", action="store_true", help="also write overlay.mp4 (face boxes, predictions; H.264)"
    )
    predict.add_argument(
        "--undecodable-tail",
        choices=UNDECODABLE_TAIL,
        default="use_decodable_frames",
        help="a video whose last frames do not decode although its container lists them: predict the frames "
        "that do, with a warning, or stop with an error",
    )
    predict.add_argument("--device", default="auto", help="auto (a GPU where there is one), cpu or cuda[:index]")
    predict.add_argument("--batch-size", type=int, default=64, help="frames and face crops per batch")
    predict.add_argument("--threads", type=int, default=min(8, os.cpu_count() or 1), help="CPU threads")
    return main


def predict(arguments):
    """Predict every video; a video's failure is logged and the next one goes on. Returns the failures."""
    import torch

    from abawflow.core.devices import resolve_device
    from abawflow.predict.bundle import load_bundle
    from abawflow.predict.video_prediction import predict_video
    from abawflow.stage_one.video import videos_to_predict

    torch.set_num_threads(max(1, arguments.threads))
    bundle = load_bundle(arguments.bundle)
    videos = videos_to_predict(arguments.videos)
    device = resolve_device(arguments.device)
    log.info("%d video(s); bundle %s (%s); device %s", len(videos), bundle.folder, describe(bundle), device)
    failed = {}
    for path in videos.values():
        try:
            folder = predict_video(
                path,
                bundle,
                arguments.output,
                arguments.people,
                arguments.overlay,
                device,
                arguments.batch_size,
                arguments.threads,
                arguments.undecodable_tail,
            )
        except USER_ERRORS as error:
            log.error("%s", error)
            failed[path] = error
            continue
        except OSError as error:
            full = disk_full(error, [arguments.output])
            if full is None:
                raise
            log.error("%s", full)
            failed[path] = full
            continue
        print(folder, flush=True)
    return failed


def describe(bundle):
    return ", ".join(f"{task}: {entry['name']}" for task, entry in bundle.manifest["tasks"].items())


def main(argv=None):
    arguments = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", category=FutureWarning, module="insightface")
    try:
        failed = predict(arguments)
    except USER_ERRORS as error:
        log.error("%s", error)
        return 1
    if failed:
        log.error(
            "%d of the videos failed, the others are predicted:\n%s",
            len(failed),
            "\n".join(f"  {path}: {error}" for path, error in failed.items()),
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

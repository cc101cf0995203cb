"""Prediction on any video with a model bundle: the pipeline's own face stage, feature stage and predictor, run on
one unlabeled video at a time, then the bundle's ensembles, smoothing and decisions.

Per video, one folder (it appears only once complete)::

    predictions.csv   one row per frame and person: time, face found (score, box), VA, EXPR probabilities and
                      class, AU probabilities and decisions
    timeline.png      the same over time
    summary.json      the video, the face rule, the face rate, the bundle's models
    overlay.mp4       on request: the video with the face box and the current predictions

People: ``one`` predicts the most confident face of each frame; ``two`` follows two people as ``left`` and
``right`` (Aff-Wild2's convention for videos of two people, abawflow.stage_one.alignment.PersonPicker).
"""

import dataclasses
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from abawflow.core.atomic import atomic_folder
from abawflow.core.errors import BundleError, ConfigError, UndecodableTailError
from abawflow.tasks.specs import get_task

log = logging.getLogger(__name__)

PEOPLE = {"one": {"": "single"}, "two": {"_left": "left", "_right": "right"}}
FACE_CHOICE = {
    "one": "the most confident face detected in each frame",
    "two": "two people followed as tracks, named left and right where both are first seen together",
}
FEATURE_MEMORY_BYTES = 2 * 10**9  # one video's features above this are read from disk, window by window


def video_subjects(name, people):
    if people not in PEOPLE:
        raise ConfigError(f"people is {people!r}; expected one of {', '.join(PEOPLE)}")
    return {f"{name}{suffix}": person for suffix, person in PEOPLE[people].items()}


def frame_times(path, frames):
    """Seconds from the first frame to each of the first ``frames`` frames (the container's time stamps)."""
    from abawflow.stage_one.video import open_video

    reader = open_video(path)
    starts = reader.get_frame_timestamp(range(frames))[:, 0].astype(np.float64)
    return starts - starts[0]  # an edit list can start a container's clock below 0


def extract_all_features(bundle, face_table, video_path, subjects, probe, work, device, batch_size):
    """Each backbone the bundle's experiments read -> (matrix path, row-table path) of this video."""
    from abawflow.training.feature_matrix import write_feature_matrix

    names = dict.fromkeys(b for e in bundle.manifest["experiments"].values() for b in e["backbones"])
    matrices = {}
    for name in names:
        spec = bundle.backbone_spec(name)
        table = work / f"{name}.parquet"
        if spec.get("format") == "audio":
            from abawflow.stage_one.audio_stage import extract_audio_features
            from models.audio import create_audio_extractor

            index = pl.DataFrame(
                {
                    "subject": list(subjects),
                    "video": video_path.stem,
                    "person": list(subjects.values()),
                    "video_path": video_path.name,
                    "frames": probe.frames,
                    "fps": probe.fps,
                }
            )
            extract_audio_features(
                index,
                video_path.parent,
                create_audio_extractor(name, spec, device),
                table,
                spec["audio"]["sample_rate"],
                spec["audio"]["window_seconds"],
                batch_size,
                device,
            )
        else:
            from abawflow.stage_one.feature_stage import extract_features
            from abawflow.tasks.specs import task_head
            from models.backbones import build_backbone

            model = build_backbone(name, spec, device, task_head)
            extract_features(
                [face_table],
                model,
                table,
                spec["input_size"],
                spec["mean"],
                spec["std"],
                batch_size,
                device,
                spec.get("channels", "rgb"),
                spec.get("precision", "auto"),
            )
        matrices[name] = (work / f"{name}.npy", work / f"{name}.rows.parquet")
        write_feature_matrix(table, *matrices[name])
    return matrices


def predict_members(bundle, matrices, device):
    """(task, experiment) -> the experiment's prediction table of the task over this video's subjects (its runs
    averaged, faceless frames interpolated, a faceless video the training prior, the experiment's smoothing)."""
    from abawflow.predict.postprocessing import postprocess
    from abawflow.predict.prediction_tables import predict_table
    from abawflow.training.feature_matrix import FeatureStore
    from abawflow.training.sequences import read_feature_matrices

    priors = {task: np.asarray(entry["prior"]) for task, entry in bundle.manifest["tasks"].items()}
    tables = {}
    for experiment, record in bundle.manifest["experiments"].items():
        paths = [matrices[backbone] for backbone in record["backbones"]]
        # One video's matrices, once per experiment: worth a line in a pipeline job's log, not here.
        store = FeatureStore.open([m for m, _ in paths], FEATURE_MEMORY_BYTES, device, logging.DEBUG)
        try:
            sequences = list(read_feature_matrices([r for _, r in paths], store).values())
            windows = {key: record[key] for key in ("window", "stride", "clip_steps")}
            by_target = {}
            for task, target in record["targets"].items():
                by_target.setdefault(target, []).append(task)
            for target, tasks in by_target.items():
                checkpoints = (
                    torch.load(path, map_location=device, weights_only=True)
                    for path in bundle.run_paths(experiment, target)
                )
                table = predict_table(
                    tasks, checkpoints, {"validation": [], "test": sequences}, windows, priors, device
                )
                for task in tasks:
                    tables[(task, experiment)] = postprocess(task, table, {"smoothing": record["smoothing"]})
        finally:
            store.close()
    return tables


def bundle_outputs(bundle, members):
    """Task -> its table (subject, frame, face_found, outputs): the bundled experiment's, or its ensemble's
    weighted mean, smoothed as the pipeline does."""
    from abawflow.predict.ensembles import average_predictions, cascade_predictions
    from abawflow.predict.postprocessing import smooth

    outputs = {}
    for task, entry in bundle.manifest["tasks"].items():
        tables = [members[(task, member)] for member in entry["members"]]
        averaged = average_predictions(task, tables, entry["weights"], entry["members"])
        if "cascade" in entry:
            cascade = entry["cascade"]
            averaged = cascade_predictions(averaged, members[(task, cascade["negative"])], cascade["routing"])
        outputs[task] = smooth(task, averaged, entry["smoothing"]).sort(["subject", "frame"])
    return outputs


def frame_table(bundle, outputs, faces, times):
    """The per-frame CSV's table: time, face, then each task's outputs and decisions."""
    table = faces.with_columns(pl.Series("time_seconds", times[faces["frame"].to_numpy() - 1]))
    table = table.select("subject", "person", "frame", "time_seconds", *faces.columns[3:])
    for task in bundle.tasks:
        entry = bundle.manifest["tasks"][task]
        spec = get_task(task)
        values = outputs[task].select(spec.output_columns)
        keys = outputs[task].select("subject", "frame")
        decided = spec.decide(values.to_numpy(), entry["thresholds"])
        extra = decision_columns(task, decided)
        table = table.join(pl.concat([keys, values, extra], how="horizontal"), on=["subject", "frame"], how="left")
    return table.sort(["subject", "frame"])


def decision_columns(task, decided):
    """EXPR: the class name; AU: 0/1 per AU; VA: none (the values are the decision)."""
    spec = get_task(task)
    if spec.kind.has_classes:
        return pl.DataFrame({"expression": [spec.header[int(k)] for k in np.asarray(decided).reshape(-1)]})
    if spec.kind.has_thresholds:
        return pl.DataFrame({name: np.asarray(decided)[:, k].astype(np.int8) for k, name in enumerate(spec.header)})
    return pl.DataFrame()


def face_rows(face_table):
    faces = pl.read_parquet(face_table, columns=["subject", "person", "frame", "face_found", "score", "box"])
    box = pl.col("box")
    return faces.select(
        "subject",
        "person",
        "frame",
        "face_found",
        pl.col("score").alias("face_score"),
        *(
            box.arr.get(k, null_on_oob=True).alias(name)
            for k, name in enumerate(("face_x1", "face_y1", "face_x2", "face_y2"))
        ),
    )


UNDECODABLE_TAIL = ("use_decodable_frames", "error")


def predict_video(
    video_path,
    bundle,
    output_folder,
    people="one",
    overlay=False,
    device="cpu",
    batch_size=64,
    threads=1,
    undecodable_tail="use_decodable_frames",
):
    """Predict every frame of one video with ``bundle``; writes ``output_folder/<video name>/`` atomically and
    returns its path. ``undecodable_tail``: a video whose last frames do not decode although its container
    lists them is predicted on the frames that do, with a warning (``use_decodable_frames``), or stops
    (``error``)."""
    from abawflow.stage_one.video import probe_video

    if undecodable_tail not in UNDECODABLE_TAIL:
        raise ConfigError(f"undecodable_tail is {undecodable_tail!r}; expected one of {', '.join(UNDECODABLE_TAIL)}")
    started = time.perf_counter()
    video_path = Path(video_path).expanduser().resolve()
    probe = probe_video(video_path)
    try:
        return _predict_frames(
            video_path, probe, bundle, output_folder, people, overlay, device, batch_size, threads, started, 0
        )
    except UndecodableTailError as error:
        if undecodable_tail == "error" or error.decoded == 0:
            raise
        log.warning(
            "%s: frames %d..%d do not decode (%s); predicting its %d decodable frames",
            video_path,
            error.decoded + 1,
            probe.frames,
            error,
            error.decoded,
        )
        undecoded = probe.frames - error.decoded
        probe = dataclasses.replace(probe, frames=error.decoded)
        return _predict_frames(
            video_path, probe, bundle, output_folder, people, overlay, device, batch_size, threads, started, undecoded
        )


def _predict_frames(
    video_path, probe, bundle, output_folder, people, overlay, device, batch_size, threads, started, undecoded
):
    """``predict_video`` on the first ``probe.frames`` frames; ``undecoded`` frames after them do not decode."""
    from abawflow.stage_one.detection import detector_from_settings
    from abawflow.stage_one.face_stage import decoder_threads, jpeg_encoder_count, run_face_stage

    subjects = video_subjects(video_path.stem, people)
    destination = Path(output_folder) / video_path.stem
    settings = bundle.faces
    with atomic_folder(destination) as staging, tempfile.TemporaryDirectory(dir=staging.parent) as scratch:
        work = Path(scratch)
        detector = detector_from_settings(settings, device, threads)
        face_table = work / "faces.parquet"
        run_face_stage(
            [(video_path.name, subjects, probe.frames)],
            video_path.parent,
            detector,
            face_table,
            batch_size,
            settings["crop_size"],
            settings["jpeg_quality"],
            decoder_threads(threads),
            encoders=jpeg_encoder_count(threads),
        )
        matrices = extract_all_features(bundle, face_table, video_path, subjects, probe, work, device, batch_size)
        outputs = bundle_outputs(bundle, predict_members(bundle, matrices, device))
        faces = face_rows(face_table)
        table = frame_table(bundle, outputs, faces, frame_times(video_path, probe.frames))
        check_outputs(video_path, bundle, table)
        table.write_csv(staging / "predictions.csv", float_precision=6)
        from abawflow.predict.timeline_figure import plot_timeline

        plot_timeline(table, bundle, staging / "timeline.png", video_path.name)
        if overlay:
            from abawflow.predict.overlay_video import write_overlay

            write_overlay(video_path, table, bundle, staging / "overlay.mp4", probe, batch_size, threads)
        summary = {
            "video": str(video_path),
            "frames": probe.frames,
            "frames_that_do_not_decode": undecoded,
            "fps": probe.fps,
            "width": probe.width,
            "height": probe.height,
            "variable_frame_rate": probe.variable_frame_rate,
            "rotation": probe.rotation,
            "people": people,
            "face_rule": FACE_CHOICE[people],
            "persons": {
                subject: {
                    "person": person,
                    "frames_with_face": int(table.filter(pl.col("subject") == subject)["face_found"].sum()),
                }
                for subject, person in subjects.items()
            },
            "tasks": {task: entry["name"] for task, entry in bundle.manifest["tasks"].items()},
            "bundle": str(bundle.folder),
            "seconds": round(time.perf_counter() - started, 2),
        }
        (staging / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    for subject, entry in summary["persons"].items():
        log.info(
            "%s: %s, face in %d of %d frames -> %s",
            video_path.name,
            subject,
            entry["frames_with_face"],
            probe.frames,
            destination,
        )
    return destination


def check_outputs(video_path, bundle, table):
    """Every frame of every person has finite outputs in its task's range: a model that diverged stops here."""
    for task in bundle.manifest["tasks"]:
        spec = get_task(task)
        invalid = spec.invalid_outputs(table.select(spec.output_columns).to_numpy())
        if invalid is not None:
            row, column, value = invalid
            raise BundleError(
                f"{video_path}: frame {table['frame'][row]} of {table['subject'][row]}: {column} is {value}, "
                f"outside {spec.kind.output_range}; the bundle's {task} models give unusable outputs"
            )

"""The overlay video of a prediction: each frame with every person's face box and their current predictions."""

import logging
from fractions import Fraction

import cv2
import numpy as np
import polars as pl

from abawflow.core.errors import VideoDecodeError
from abawflow.stage_one.video import iter_frame_batches
from abawflow.tasks.specs import get_task

log = logging.getLogger(__name__)

COLOURS = {"single": (0, 220, 0), "left": (255, 160, 0), "right": (0, 160, 255)}  # BGR


def caption_lines(row, tasks):
    lines = []
    if "va" in tasks:
        lines.append(f"V {row['predicted_valence']:+.2f}  A {row['predicted_arousal']:+.2f}")
    if "expr" in tasks:
        spec = get_task("expr")
        probability = row[spec.output_columns[spec.header.index(row["expression"])]]
        lines.append(f"{row['expression']} {probability:.2f}")
    if "au" in tasks:
        present = [name for name in get_task("au").header if row[name]]
        lines.append("AU " + (" ".join(present) if present else "-"))
    return lines


def draw_person(image, row, tasks, scale):
    """The face box, and beneath it (above it near the frame's bottom) the predictions on a dark panel."""
    colour = COLOURS.get(row["person"], (0, 220, 0))
    thickness = max(1, round(2 * scale))
    font, size, step = cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, int(20 * scale)
    lines = caption_lines(row, tasks)
    if row["face_found"]:
        x1, y1, x2, y2 = (int(round(row[k])) for k in ("face_x1", "face_y1", "face_x2", "face_y2"))
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, thickness)
        left, top = max(0, x1), y2 + 4
        if top + step * len(lines) > image.shape[0]:
            top = max(0, y1 - 4 - step * len(lines))
    else:
        lines = ["no face: interpolated", *lines]
        left, top = (4 if row["person"] != "right" else image.shape[1] // 2), 4
    width = max(cv2.getTextSize(text, font, size, 1)[0][0] for text in lines) + 8
    panel = image[top : top + step * len(lines) + 4, left : left + width]
    panel[:] = (panel * 0.35).astype(np.uint8)  # darken, so the text reads on any background
    for k, text in enumerate(lines):
        baseline = top + step * (k + 1) - int(5 * scale)
        cv2.putText(image, text, (left + 4, baseline), font, size, colour, 1, cv2.LINE_AA)


# Browsers play H.264 in an MP4; MPEG-4 Part 2 is what every FFmpeg build can write, for players elsewhere.
ENCODERS = (("libx264", "H.264"), ("mpeg4", "MPEG-4 Part 2"))


def overlay_encoder():
    """(codec, its name) of the first of ENCODERS that this FFmpeg build (PyAV's) can encode."""
    import av

    for codec, name in ENCODERS:
        try:
            av.codec.Codec(codec, "w")
        except (av.error.FFmpegError, ValueError):
            continue
        return codec, name
    raise VideoDecodeError(f"PyAV's FFmpeg has none of the encoders {', '.join(c for c, _ in ENCODERS)}")


def write_overlay(video_path, table, bundle, output, probe, batch_size=64, threads=1):
    """Decode the video again, batch by batch, and write the annotated frames at the video's frame rate: H.264
    (yuv420p, even sides), or MPEG-4 Part 2 with a warning where this FFmpeg has no H.264 encoder."""
    import av

    tasks = bundle.tasks
    codec, name = overlay_encoder()
    if codec != ENCODERS[0][0]:
        log.warning("%s: PyAV's FFmpeg has no H.264 encoder; writing %s, which browsers do not play", output, name)
    by_frame = table.sort(["frame", "subject"]).partition_by("frame", as_dict=True, maintain_order=True)
    scale = max(0.6, probe.height / 480)
    container = av.open(str(output), "w")
    stream = None
    try:
        for first, frames in iter_frame_batches(video_path, batch_size, threads, probe.frames):
            if stream is None:  # the decoded size, which a container's rotation can make differ from the header's
                height, width = frames.shape[1:3]
                stream = container.add_stream(codec, rate=Fraction(probe.fps).limit_denominator(100_000))
                stream.width, stream.height = width - width % 2, height - height % 2  # 4:2:0 needs even sides
                stream.pix_fmt = "yuv420p"
                stream.thread_count = max(1, int(threads))
                if codec == "libx264":
                    stream.options = {"crf": "20", "preset": "veryfast"}
            for offset, frame in enumerate(frames):
                image = np.ascontiguousarray(frame[..., ::-1])
                rows = by_frame.get((first + offset,), pl.DataFrame())
                for row in rows.iter_rows(named=True):
                    draw_person(image, row, tasks, scale)
                picture = np.ascontiguousarray(image[: stream.height, : stream.width, ::-1])
                container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        if stream is not None:
            container.mux(stream.encode())  # flush the encoder
    finally:
        container.close()

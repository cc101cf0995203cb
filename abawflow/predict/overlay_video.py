"""The overlay video of a prediction: each frame with every person's face box and their current predictions."""

import cv2
import numpy as np
import polars as pl

from abawflow.core.errors import VideoDecodeError
from abawflow.stage_one.video import iter_frame_batches
from abawflow.tasks.specs import get_task

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


def write_overlay(video_path, table, bundle, output, probe, batch_size=64, threads=1):
    """Decode the video again, batch by batch, and write the annotated frames (MPEG-4, the video's frame rate)."""
    tasks = bundle.tasks
    writer = None
    by_frame = table.sort(["frame", "subject"]).partition_by("frame", as_dict=True, maintain_order=True)
    scale = max(0.6, probe.height / 480)
    try:
        for first, frames in iter_frame_batches(video_path, batch_size, threads, probe.frames):
            if writer is None:  # the decoded size, which a container's rotation can make differ from the header's
                height, width = frames.shape[1:3]
                writer = cv2.VideoWriter(str(output), cv2.VideoWriter_fourcc(*"mp4v"), probe.fps, (width, height))
                if not writer.isOpened():
                    raise VideoDecodeError(f"{output}: OpenCV cannot write an MPEG-4 video here")
            for offset, frame in enumerate(frames):
                image = np.ascontiguousarray(frame[..., ::-1])
                rows = by_frame.get((first + offset,), pl.DataFrame())
                for row in rows.iter_rows(named=True):
                    draw_person(image, row, tasks, scale)
                writer.write(image)
    finally:
        if writer is not None:
            writer.release()

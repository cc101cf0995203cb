"""Videos the tests write from others: the same frames stored turned, as a phone records them."""

import numpy as np


def write_stored_turned(source, target, rotation, quality=12):
    """``source``'s frames stored turned by ``rotation`` degrees clockwise, with a display matrix that turns
    them back by as much counter-clockwise (H.264 through PyAV, as a phone's camera app writes them). With
    ``rotation`` 0: the same frames re-encoded alike, the upright reference to compare with."""
    import av

    from abawflow.stage_one.video import iter_frame_batches, probe_video

    fps = probe_video(source).fps
    target.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(target), "w") as container:
        stream = None
        for _, frames in iter_frame_batches(source, 32):
            for frame in frames:
                stored = np.ascontiguousarray(np.rot90(frame, -rotation // 90))
                if stream is None:
                    stream = container.add_stream("libx264", rate=round(fps))
                    stream.height, stream.width = stored.shape[:2]
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(quality), "preset": "veryfast"}
                    if rotation:
                        stream.set_display_rotation(rotation)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")))
        container.mux(stream.encode())
    return target


def write_first_frames(source, target, count):
    """The first ``count`` frames of ``source`` as an H.264 video of their own, at its frame rate."""
    import av

    with av.open(str(source)) as video:
        decoded = video.decode(video=0)
        frames = [next(decoded).to_ndarray(format="rgb24") for _ in range(count)]
        rate = video.streams.video[0].average_rate
    with av.open(str(target), "w") as clip:
        stream = clip.add_stream("libx264", rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            clip.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        clip.mux(stream.encode())
    return target

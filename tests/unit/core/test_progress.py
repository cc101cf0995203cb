"""Progress lines of long stages: bounded in number, with rate and time left."""

import logging

from abawflow.core.progress import Progress, duration


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_is_logged_at_most_once_per_interval_with_rate_and_time_left(caplog):
    clock = Clock()
    progress = Progress(logging.getLogger("test.progress"), "faces", 1000, "frames", interval=30.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.progress"):
        for _ in range(100):  # 10 frames a second for 100 s
            clock.now += 1.0
            progress.advance(10)
        progress.finish()
    lines = [record.getMessage() for record in caplog.records]
    assert lines[:3] == [
        "faces: 300/1000 frames (30%), 10.0 frames/s, 1m10s left",
        "faces: 600/1000 frames (60%), 10.0 frames/s, 40s left",
        "faces: 900/1000 frames (90%), 10.0 frames/s, 10s left",
    ]
    assert lines[3:] == ["faces: 1000 frames in 1m40s"]  # no line at 100 %: the final one says it


def test_durations_read_naturally():
    assert [duration(s) for s in (0, 12.4, 185, 3725)] == ["0s", "12s", "3m05s", "1h02m"]

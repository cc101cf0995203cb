import threading
import time

import pytest

from abawflow.stage_one.pipelining import OrderedWriter, prefetched


def test_writes_run_in_order_and_at_most_depth_wait():
    done, pending_seen = [], []
    release = threading.Event()

    def write(index):
        release.wait()
        done.append(index)

    with OrderedWriter(depth=2) as writer:
        for index in range(2):
            writer.submit(write, index)  # returns at once: the disk is slow, but two may wait
        pending_seen.append(len(writer.pending))
        releaser = threading.Timer(0.2, release.set)
        releaser.start()
        started = time.perf_counter()
        writer.submit(write, 2)  # a third waits for the oldest
        assert time.perf_counter() - started >= 0.15
        for index in range(3, 10):
            writer.submit(write, index)
            pending_seen.append(len(writer.pending))
    assert done == list(range(10))
    assert max(pending_seen) <= 2


def test_a_failed_write_is_raised_to_the_producer():
    def write(index):
        if index == 1:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with OrderedWriter(depth=1) as writer:
            for index in range(5):
                writer.submit(write, index)


def test_the_producers_own_error_wins_and_nothing_hangs():
    def write(index):
        raise OSError("disk full")

    with pytest.raises(ValueError, match="bad frame"):
        with OrderedWriter(depth=3) as writer:
            writer.submit(write, 0)
            raise ValueError("bad frame")


def test_prefetched_results_come_in_order_with_bounded_work_in_flight():
    started, finished = [], []

    def work(item):
        started.append(item)
        time.sleep(0.01 * (item % 3))
        finished.append(item)
        return item * item

    results = []
    for result in prefetched(range(12), work, workers=3, depth=4):
        results.append(result)
        assert len(started) - len(results) <= 4
    assert results == [item * item for item in range(12)]

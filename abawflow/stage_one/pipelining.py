"""The two ends of stage one's pipelines: work prefetched on a thread pool, and writes done behind on one thread.

Both keep a bounded number of batches in flight, so memory does not grow with the data when one end is
slower than the other.
"""

from collections import deque
from concurrent.futures import ThreadPoolExecutor


def prefetched(items, function, workers, depth):
    """``function`` over ``items`` in a thread pool, results in order, at most ``depth`` in flight."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        pending = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class OrderedWriter:
    """Runs the submitted writes one after the other on a thread of its own, in submission order.

    ``submit`` returns at once while fewer than ``depth`` writes are pending, and otherwise waits for the
    oldest, so a slow disk holds the producer back instead of letting batches pile up. A write's exception
    is raised by the ``submit`` or the exit that waits for it. Leaving the ``with`` block waits for every
    write; when it is left by an exception, the writes' own errors give way to that one.
    """

    def __init__(self, depth):
        self.depth = depth

    def __enter__(self):
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write")
        self.pending = deque()
        return self

    def submit(self, function, *arguments):
        self.pending.append(self.pool.submit(function, *arguments))
        while len(self.pending) > self.depth:
            self.pending.popleft().result()

    def __exit__(self, kind, error, traceback):
        try:
            while self.pending and kind is None:
                self.pending.popleft().result()
        finally:
            self.pool.shutdown(wait=True)
        return False

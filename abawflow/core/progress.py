"""Progress of long loops in the rule logs: done / total, rate and time left, at most once every ``interval``
seconds and once at the end, so a log stays small whatever the length of the stage."""

import os
import signal
import time

INTERVAL_SECONDS = 30.0

# ``<what>:<fraction>``, e.g. ``faces:0.5``: a job SIGKILLs its whole process group (Snakemake and every job
# beside it, as a lost node or a preemption would) once that loop has done the fraction of its total. The
# resume tests choose the moment so; nothing else sets it.
KILL_AT_VARIABLE = "ABAWFLOW_KILL_AT"


def kill_point(what):
    """The fraction of ``what``'s total at which ``KILL_AT_VARIABLE`` asks for the kill, or None."""
    name, _, fraction = os.environ.get(KILL_AT_VARIABLE, "").rpartition(":")
    return float(fraction) if name == what else None


def kill_if_past(fraction, done, total):
    if fraction is not None and total and done >= fraction * total:
        os.killpg(os.getpgrp(), signal.SIGKILL)


def duration(seconds):
    """``1h02m``, ``3m05s`` or ``12s``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class Progress:
    def __init__(self, logger, what, total, unit, interval=INTERVAL_SECONDS, clock=time.monotonic):
        self.logger, self.what, self.total, self.unit = logger, what, int(total), unit
        self.interval, self.clock = interval, clock
        self.started = self.last = clock()
        self.done = 0
        self.kill_at = kill_point(what)

    def advance(self, count=1):
        self.done += count
        kill_if_past(self.kill_at, self.done, self.total)
        now = self.clock()
        if now - self.last >= self.interval and self.done < self.total:
            self.last = now
            self.logger.info("%s", self.line(now))

    def line(self, now=None):
        elapsed = (self.clock() if now is None else now) - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        share = f" ({100.0 * self.done / self.total:.0f}%)" if self.total else ""
        left = f", {duration((self.total - self.done) / rate)} left" if rate > 0 and self.total else ""
        return f"{self.what}: {self.done}/{self.total} {self.unit}{share}, {rate:.1f} {self.unit}/s{left}"

    def finish(self):
        elapsed = self.clock() - self.started
        self.logger.info("%s: %d %s in %s", self.what, self.done, self.unit, duration(elapsed))

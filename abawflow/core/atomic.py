"""Atomic output writing: a file appears under its final name only once complete."""

import contextlib
import glob
import os
import tempfile
from pathlib import Path


def _mode(base):
    """``base`` less the process umask: the mode an ordinary open() or mkdir() would give. Temporary files
    are created 0600 (folders 0700), which would hide every output from the rest of a group sharing a
    results folder."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success, delete it on error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Leftovers of an attempt that was killed (SIGKILL, node failure) before it could clean up.
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.partial"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, _mode(0o666))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def write_text(path, text):
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def write_csv(frame, path, float_precision=4):
    """Write a polars DataFrame to CSV atomically."""
    with atomic_path(path) as temporary:
        frame.write_csv(temporary, float_precision=float_precision)


def write_torch(value, path):
    """``torch.save`` ``value`` atomically, the same value giving the same bytes. Through an open file: saved
    to a path, torch names the archive's inner folder after the file, and the temporary name differs each time."""
    import torch

    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        torch.save(value, file)


def write_parquet(frame, path):
    """Write a polars DataFrame to Parquet atomically."""
    with atomic_path(path) as temporary:
        frame.write_parquet(temporary)


@contextlib.contextmanager
def atomic_folder(path):
    """Yield a temporary folder beside ``path``; it replaces ``path`` once the block ends without error, and
    is deleted otherwise. Nothing appears under ``path`` half-written."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.partial"):
        shutil.rmtree(stale, ignore_errors=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield temporary
        os.chmod(temporary, _mode(0o777))
        if path.exists():
            shutil.rmtree(path)
        os.replace(temporary, path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def write_folder(path, files):
    """Write ``files`` (name -> text) as the folder ``path``, which appears only once complete."""
    with atomic_folder(path) as temporary:
        for name, text in files.items():
            (temporary / name).write_text(text)

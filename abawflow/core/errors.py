"""Typed errors raised where user data enters the pipeline.

Every message names the file (and line or frame where there is one) and says
what was expected, so a user can fix the input without reading a traceback.
"""

import errno
import shutil
from pathlib import Path

from models.errors import ModelLoadError  # the models package's own: it imports nothing of abawflow


class AbawflowError(Exception):
    """Base class: a problem with the user's data, config or files."""


class AnnotationFormatError(AbawflowError):
    """An annotation or test-list file does not follow the ABAW format."""


class DatasetLayoutError(AbawflowError):
    """The dataset folder does not have the expected layout."""


class VideoDecodeError(AbawflowError):
    """A video cannot be opened or decoded."""


class UndecodableTailError(VideoDecodeError):
    """A video's frames stop decoding before the count its probe gave: ``decoded`` frames did."""

    def __init__(self, message, decoded):
        super().__init__(message)
        self.decoded = decoded


class ConfigError(AbawflowError):
    """A config value is inconsistent with the data or with other values."""


class SubmissionError(AbawflowError):
    """Predictions that cannot make a valid challenge submission (not finite, out of range, incomplete)."""


class BundleError(AbawflowError):
    """A model bundle folder that is incomplete, altered or of another format."""


class FaceTableError(AbawflowError):
    """A face table (the face stage's output, or one read from the organizers' crops) is damaged."""


class UnreadableImageError(AbawflowError):
    """An image file of a pre-training corpus that does not open as an image."""


class DiskFullError(AbawflowError):
    """The disk an output goes to filled up while a job wrote it."""


# Less free space than this where an output goes, when a writer fails: the disk is what stopped it (torch's
# checkpoint writer says "unexpected pos", not ENOSPC).
NEARLY_FULL_BYTES = 64 * 2**20


def disk_full(error, folders):
    """A DiskFullError that says so when ``error`` came from a full disk: ENOSPC anywhere in its chain, or any
    failure while the disk of one of ``folders`` (where the outputs go) has next to no space left; else None."""
    chain, cause = [], error
    while cause is not None and len(chain) < 10:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    no_space = any(isinstance(e, OSError) and e.errno == errno.ENOSPC for e in chain) or any(
        "No space left on device" in str(e) for e in chain
    )
    for folder in folders:
        existing = next((p for p in [Path(folder), *Path(folder).parents] if p.exists()), None)
        if existing is None:
            continue
        free = shutil.disk_usage(existing).free
        if no_space or free < NEARLY_FULL_BYTES:
            first_line = (str(error).strip().splitlines() or [""])[0][:200]
            return DiskFullError(
                f"{existing}: the disk is full ({free / 2**20:.1f} MB free there) and stopped the writing of the "
                f"outputs ({type(error).__name__}: {first_line}). Free space on that disk and run again: nothing "
                "half-written was kept, and what finished stays done."
            )
    return None


# What a job or command reports as its message alone, without a traceback.
USER_ERRORS = (AbawflowError, ModelLoadError)

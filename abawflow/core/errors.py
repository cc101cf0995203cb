"""Typed errors raised where user data enters the pipeline.

Every message names the file (and line or frame where there is one) and says
what was expected, so a user can fix the input without reading a traceback.
"""

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


# What a job or command reports as its message alone, without a traceback.
USER_ERRORS = (AbawflowError, ModelLoadError)

"""The one error the models package raises for its users: a model file that cannot be loaded."""


class ModelLoadError(Exception):
    """A detector, backbone or checkpoint cannot be loaded; the message names the file and what was expected."""

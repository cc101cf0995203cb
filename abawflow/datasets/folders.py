"""Walking a dataset's folders the way a cluster's storage lays them out: folders linked in from elsewhere."""

import os
from pathlib import Path


def files_under(folder):
    """Every file under ``folder``, recursively and sorted, following symbolic links to folders (a dataset on
    shared storage is often linked in batch by batch; ``Path.rglob`` does not descend into them). Each real
    folder is visited once, so a link back to a folder above ends there instead of looping."""
    visited, found = set(), []
    for current, folders, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(current)
        if real in visited:
            folders[:] = []
            continue
        visited.add(real)
        found += [Path(current) / name for name in files]
    return sorted(path for path in found if path.is_file())

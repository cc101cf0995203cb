"""Which dataset files an index reads, as a fingerprint the index rule takes as a param.

The dataset root is a folder whose time stamp does not change when a file deep inside it is
added, removed or edited; the fingerprint (names, sizes, modification times) does, so the
index reruns by itself. It is computed when the workflow is planned, from file metadata only.
"""

import hashlib
from pathlib import Path

from abawflow.annotations import SPLIT_FOLDERS, VIDEO_SUFFIXES


def aff_wild2_index_files(root, annotation_folder, challenge_folders, test_lists, video_folder, tasks):
    """The files index_annotations reads: annotation files, test lists and videos (relative to root)."""
    root = Path(root)
    paths = []
    for task in tasks:
        for split_folder in SPLIT_FOLDERS.values():
            paths.extend(sorted((root / annotation_folder / challenge_folders[task] / split_folder).glob("*.txt")))
        paths.append(root / test_lists[task])
    videos = root / video_folder
    if videos.is_dir():
        paths.extend(sorted(p for p in videos.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES))
    return paths


def fingerprint_files(root, paths):
    """Digest of each existing file's path (relative to root), size and modification time, and of which
    listed files are missing; the number of files found."""
    root = Path(root)
    digest = hashlib.sha256()
    found = 0
    for path in paths:
        path = Path(path)
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        try:
            state = path.stat()
        except OSError:
            digest.update(f"{name}\0missing\n".encode())
            continue
        found += 1
        digest.update(f"{name}\0{state.st_size}\0{state.st_mtime_ns}\n".encode())
    return {"files": found, "digest": digest.hexdigest()[:20]}

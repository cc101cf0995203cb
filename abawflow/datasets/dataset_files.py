"""Which dataset files an index reads, as a fingerprint the index rule takes as a param.

The dataset root is a folder whose time stamp does not change when a file deep inside it is
added, removed or edited; the fingerprint (names, sizes, modification times) does, so the
index reruns by itself. It is computed when the workflow is planned, from file metadata only.
"""

import hashlib
from pathlib import Path

from abawflow.datasets.aff_wild2 import SPLIT_FOLDERS
from abawflow.datasets.folders import files_under
from abawflow.stage_one.video import VIDEO_SUFFIXES


def aff_wild2_index_files(root, annotation_folder, challenge_folders, test_lists, video_folder, tasks):
    """The files index_annotations reads: annotation files, test lists and videos (relative to root)."""
    root = Path(root)
    paths = []
    for task in tasks:
        for split_folder in SPLIT_FOLDERS.values():
            paths.extend(sorted((root / annotation_folder / challenge_folders[task] / split_folder).glob("*.txt")))
        paths.append(root / test_lists[task])
    return paths + aff_wild2_videos(root, video_folder)


def aff_wild2_subject_names(root, annotation_folder, challenge_folders, test_lists, tasks):
    """The subject names the annotation files and test lists name (their labels are not read): what the
    subjects table depends on besides the videos. A missing file adds nothing; the index rule reports it."""
    root = Path(root)
    names = set()
    for task in tasks:
        for split_folder in SPLIT_FOLDERS.values():
            names.update(
                p.stem for p in (root / annotation_folder / challenge_folders[task] / split_folder).glob("*.txt")
            )
        try:
            lines = (root / test_lists[task]).read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        names.update(line.strip() for line in lines if line.strip())
    return sorted(names)


def aff_wild2_videos(root, video_folder):
    videos = Path(root) / video_folder
    if not videos.is_dir():
        return []
    return [p for p in files_under(videos) if p.suffix.lower() in VIDEO_SUFFIXES]


def fingerprint_files(root, paths, names=()):
    """Digest of each existing file's path (relative to root), size and modification time, of which
    listed files are missing, and of ``names``; the number of files found."""
    root = Path(root)
    digest = hashlib.sha256("\0".join(names).encode())
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

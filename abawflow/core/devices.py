"""One GPU per job on a machine with several: Snakemake caps how many GPU jobs run, not which card each uses."""

import fcntl
import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path

log = logging.getLogger("abawflow.core.devices")

_held_locks = []  # open lock files, held until the process exits


def resolve_device(device):
    """Config `device` -> torch device: auto is CUDA when available, else the CPU."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def visible_gpus():
    """Ids of the cards this process may use: CUDA_VISIBLE_DEVICES when set (SLURM sets it), else nvidia-smi's list."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [card.strip() for card in visible.split(",") if card.strip()]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return []
    return [str(index) for index, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU ")]


def claim_gpu(lock_folder=None, poll_seconds=2.0):
    """With several visible cards, lock a free one and make it the only one visible to this process.

    Must run before CUDA is initialised. Returns the card id, or None with zero or one card.
    """
    cards = visible_gpus()
    if len(cards) <= 1:
        return None
    folder = Path(lock_folder or Path(tempfile.gettempdir()) / f"abawflow-gpu-locks-{os.getuid()}")
    folder.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for card in cards:
            handle = open(folder / f"gpu{card}.lock", "w")  # noqa: SIM115 (held for the process's life)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            _held_locks.append(handle)
            os.environ["CUDA_VISIBLE_DEVICES"] = card
            log.info("using GPU %s of %s", card, ",".join(cards))
            return card
        if not waited:
            log.warning("all %d GPUs are taken by other abawflow jobs; waiting for one", len(cards))
            waited = True
        time.sleep(poll_seconds)

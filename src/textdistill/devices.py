"""One GPU per stage process: the claim that lets `dvc queue start -j N` use N GPUs.

DVC's queue runs N experiments at once but gives its workers no devices (treeverse/dvc#4586),
so every training would land on GPU 0. Instead each process that wants a GPU claims one: an OS
file lock per device, `<repo>/.dvc/tmp/gpu-claims/gpu<i>.lock` (the main repository's, via
`$DVC_ROOT`, so queued experiments in temporary copies share them). The first free device is
taken and made the current CUDA device; when all are taken the process waits and says so. The
lock is released when the process exits, however it exits: the kernel drops an flock with its
last file descriptor, so a SIGKILLed holder frees its GPU.

Devices are numbered as the process sees them (after `CUDA_VISIBLE_DEVICES`): give every
worker the same visible set. `TEXTDISTILL_GPU_COUNT=N` simulates N GPUs (claims and waiting
happen, the work stays on the CPU): the tests of this module run on machines without one.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from textdistill.errors import TextdistillError
from textdistill.io import project_root

SIMULATE_ENV = "TEXTDISTILL_GPU_COUNT"
CLAIMS = Path(".dvc") / "tmp" / "gpu-claims"
POLL_S = 2.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GpuClaim:
    index: int
    simulated: bool

    def describe(self) -> str:
        return f"{self.index} (simulated)" if self.simulated else str(self.index)


def gpu_count() -> tuple[int, bool]:
    """Visible CUDA devices, or the simulated count; and whether it is simulated."""
    simulated = os.environ.get(SIMULATE_ENV)
    if simulated:
        return int(simulated), True
    import torch

    return (torch.cuda.device_count() if torch.cuda.is_available() else 0), False


def claims_dir() -> Path:
    return project_root() / CLAIMS


@contextmanager
def claimed_gpu(device: str = "auto", poll_s: float = POLL_S) -> Iterator[GpuClaim | None]:
    """Hold a free GPU for the block and make it the current CUDA device (None: the device is
    `cpu`, or there is no GPU). Waits while every GPU is held by another process."""
    with claimed_gpus(device, 1, poll_s) as claims:
        if claims and not claims[0].simulated:
            import torch

            torch.cuda.set_device(claims[0].index)  # "cuda" now means this device
        yield claims[0] if claims else None


@contextmanager
def claimed_gpus(
    device: str = "auto", count: int = 1, poll_s: float = POLL_S
) -> Iterator[list[GpuClaim]]:
    """Hold `count` free GPUs for the block, all at once or none (two stages each holding
    half of what the other needs would wait forever); [] on the CPU or without a GPU.

    Waits, polling every `poll_s` seconds, while fewer than `count` are free.
    """
    available, simulated = gpu_count()
    if device == "cpu" or available == 0:
        yield []
        return
    if count > available:
        raise TextdistillError(
            f"{count} processes want a GPU each, but this machine has {available}"
        )
    directory = claims_dir()
    directory.mkdir(parents=True, exist_ok=True)
    warned = False
    while True:
        held = _try_claim(directory, available, count)
        if held:
            try:
                yield [GpuClaim(index, simulated) for index, _ in held]
            finally:
                for _, lock in held:
                    lock.release()
            return
        if not warned:
            warned = True
            log.warning("fewer than %d of %d GPUs are free; waiting", count, available)
        time.sleep(poll_s)


def _try_claim(directory: Path, available: int, count: int) -> list[tuple[int, FileLock]]:
    """`count` locks taken without waiting, or none (those taken are let go)."""
    held: list[tuple[int, FileLock]] = []
    for index in range(available):
        lock = FileLock(str(directory / f"gpu{index}.lock"), thread_local=False)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue
        held.append((index, lock))
        if len(held) == count:
            return held
    for _, lock in held:
        lock.release()
    return []


def cuda_ids(claims: list[GpuClaim]) -> list[str]:
    """The claimed devices as `CUDA_VISIBLE_DEVICES` entries for child processes (claims count
    the devices this process sees, which may already be a subset)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    names = [name.strip() for name in visible.split(",")] if visible else None
    return [names[claim.index] if names else str(claim.index) for claim in claims]

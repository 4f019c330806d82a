"""One training across several processes: Accelerate's process group and the stage launcher.

A training stage runs in one process unless `TEXTDISTILL_PROCESSES=N` (N > 1) is set: then
`run_launched` re-runs the same command under `torch.distributed.run` with N processes (one per
GPU, or N CPU processes over gloo), and `Trainer` trains one model across them with DDP through
`accelerate.Accelerator`. A stage script started by a launcher directly (`torchrun
--nproc-per-node N stages/finetune.py ...`, `accelerate launch ...`) is recognised the same way.

The process count is an environment variable, not a param: it says how a machine runs the
stage, not what the stage computes (the global batch, and so the recipe, stays
`train.batch_size`); an experiment keeps its identity on one GPU or eight.

How a global batch is split: every process draws the same length-grouped batches (they are
seeded by seed and epoch alone) and takes every N-th example of each (`shard`), so the
processes' shards have similar lengths. Each process scales its batch-mean loss by its share of
the batch (`loss_scale`), so DDP's average of the gradients is the gradient of the global
batch's mean: the same step as one process takes, up to float rounding (exact for losses that
average over examples; DIST, which correlates classes across a batch, sees each shard alone).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from textdistill.errors import TextdistillError

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator

PROCESSES_ENV = "TEXTDISTILL_PROCESSES"
# The GPUs the launching process claimed for its workers, for the MLflow tag `gpu.claimed`.
CLAIMED_ENV = "TEXTDISTILL_GPUS_CLAIMED"


def requested_processes() -> int:
    """`TEXTDISTILL_PROCESSES`, 1 when unset."""
    value = os.environ.get(PROCESSES_ENV, "1").strip()
    if not value.isdigit() or int(value) < 1:
        raise TextdistillError(
            f"{PROCESSES_ENV}={value!r}: expected a whole number of processes, 1 or more"
        )
    return int(value)


def launched() -> bool:
    """Whether this process is one of a launcher's workers (torchrun and accelerate set these)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_main_process() -> bool:
    """Rank 0, or a process on its own: the one that writes outputs and logs to MLflow."""
    return not launched() or os.environ.get("RANK", "0") == "0"


def launch_command(processes: int, argv: Sequence[str]) -> list[str]:
    """This command again, under torch's launcher, on this machine (`--standalone`: it picks a
    free rendezvous port, so stages of queued experiments can launch side by side)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        *argv,
    ]


def run_launched(processes: int, gpus: Sequence[str] = ()) -> None:
    """Run this stage's command as `processes` workers and wait for them; raise SystemExit with
    their exit status if one fails. `gpus`: the device ids claimed for them (CUDA numbering)."""
    env = dict(os.environ)
    if gpus:  # worker i sees the i-th claimed GPU as cuda:i
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        env[CLAIMED_ENV] = ",".join(gpus)
    code = subprocess.call(launch_command(processes, sys.argv), env=env)
    if code != 0:
        raise SystemExit(code)


def accelerator(device: torch.device, precision: str) -> Accelerator:
    """The process's Accelerator: `device` (CPU or CUDA) and `precision` (bf16 autocast or not).

    Accelerate holds one state per process and refuses a second Accelerator with other
    settings. A single process (tests, benchmarks, notebooks) may train several models with
    different ones, so there the state is reset first; a worker of a launched group keeps its
    process group and must ask for the same settings each time.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    if not launched():
        AcceleratorState._reset_state(reset_partial_state=True)
    return Accelerator(
        cpu=device.type == "cpu", mixed_precision="bf16" if precision == "bf16" else "no"
    )


def shard(indices: np.ndarray, rank: int, processes: int) -> np.ndarray:
    """This process's examples of a global batch: every `processes`-th, from `rank`."""
    return indices[rank::processes]


def loss_scale(local: int, total: int, processes: int) -> float:
    """Factor that turns a shard's mean loss into its part of the global batch's mean, given
    that DDP averages the processes' gradients: local/total of the mean, times `processes`."""
    return local * processes / total

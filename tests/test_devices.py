"""One GPU per process: concurrent claims get different devices, a full house waits, and a
SIGKILLed holder frees its device. On CPU, with TEXTDISTILL_GPU_COUNT simulating the GPUs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from textdistill.devices import SIMULATE_ENV, claimed_gpu

REPO = Path(__file__).resolve().parents[1]
# Claims a GPU, prints its index, and holds it until its stdin closes.
HOLDER = (
    "import sys\n"
    "from textdistill.devices import claimed_gpu\n"
    "with claimed_gpu(poll_s=0.1) as gpu:\n"
    "    print(gpu.index, flush=True)\n"
    "    sys.stdin.read()\n"
)


def holder(root: Path, count: int) -> subprocess.Popen[str]:
    env = os.environ | {SIMULATE_ENV: str(count), "DVC_ROOT": str(root)}
    env["PYTHONPATH"] = str(REPO / "src")
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def claimed(process: subprocess.Popen[str], timeout: float = 60) -> int | None:
    """The index the holder printed, or None if it printed nothing within `timeout`."""
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line:
            return int(line)
        time.sleep(0.05)
    return None


def release(*processes: subprocess.Popen[str]) -> None:
    for process in processes:
        if process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=60)


def test_concurrent_claims_never_share_a_device(tmp_path: Path) -> None:
    first, second = holder(tmp_path, 2), holder(tmp_path, 2)
    try:
        assert {claimed(first), claimed(second)} == {0, 1}
        third = holder(tmp_path, 2)  # both held: it waits
        try:
            assert claimed(third, timeout=3) is None
            release(first)
            assert claimed(third) in {0, 1}
        finally:
            release(third)
    finally:
        release(first, second)


def test_a_killed_holder_frees_its_device(tmp_path: Path) -> None:
    first = holder(tmp_path, 1)
    assert claimed(first) == 0
    waiting = holder(tmp_path, 1)  # started once the device is held, so it must wait
    try:
        assert claimed(waiting, timeout=3) is None
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert claimed(waiting) == 0
    finally:
        release(waiting)
        first.kill()


def test_no_gpu_or_cpu_claims_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.setenv(SIMULATE_ENV, "0")
    with claimed_gpu() as gpu:
        assert gpu is None
    monkeypatch.setenv(SIMULATE_ENV, "2")
    with claimed_gpu("cpu") as gpu:
        assert gpu is None
    with claimed_gpu() as gpu:
        assert gpu is not None and gpu.describe() == "0 (simulated)"
        with claimed_gpu() as inner:  # the same process asking twice gets another device
            assert inner is not None and inner.index == 1

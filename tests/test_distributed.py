"""The engine across processes (DDP over gloo, on CPU): 2 processes train the same model as 1
with the same global batch, resume after a SIGKILL, and a stage launched with
TEXTDISTILL_PROCESSES=2 writes and logs once. Plus the arithmetic that makes the first true."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import REPO, run, runs_by_stage

from textdistill import distributed
from textdistill.devices import SIMULATE_ENV, claimed_gpu, claimed_gpus
from textdistill.errors import TextdistillError

WORKER = REPO / "tests" / "ddp_worker.py"
# Float sums in another order (gloo's all-reduce, split batches): logits agree to ~1e-6.
LOGIT_TOLERANCE = 1e-4


def fit(tmp: Path, processes: int, *options: str, wait: bool = True) -> Any:
    """Run the tiny fine-tune as `processes` workers; its summary, or the Popen when not `wait`."""
    out = tmp / f"fit-{processes}.json"
    command = [sys.executable, str(WORKER), str(out), *options]
    if processes > 1:
        command = distributed.launch_command(processes, command[1:])
    env = os.environ | {"PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO / 'tests'}"}
    env["OMP_NUM_THREADS"] = "1"  # two workers on two cores
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a process group: the kill test stops launcher and workers
    )
    if not wait:
        return process
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def single_and_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    tmp = tmp_path_factory.mktemp("ddp")
    return fit(tmp, 1), fit(tmp, 2)


def test_two_processes_train_the_model_one_does(single_and_pair: tuple[Any, Any]) -> None:
    one, two = single_and_pair
    assert (one["processes"], two["processes"]) == (1, 2)
    assert one["train_samples"] == two["train_samples"]  # every example, once per epoch
    for a, b in zip(one["history"], two["history"], strict=True):
        assert a["val_accuracy"] == b["val_accuracy"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-5)
    np.testing.assert_allclose(one["test_logits"], two["test_logits"], atol=LOGIT_TOLERANCE)
    # It learned something, so the agreement is not two untrained models agreeing.
    assert one["test_metrics"]["accuracy"] > 0.9


def test_two_processes_resume_after_a_sigkill(
    tmp_path: Path, single_and_pair: tuple[Any, Any]
) -> None:
    _, uninterrupted = single_and_pair
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    options = ("--checkpoints", str(checkpoints))
    process = fit(tmp_path, 2, *options, "--pause-after-epoch", "60", wait=False)
    deadline = time.monotonic() + 300
    while not (checkpoints / "epoch-2").exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the run never finished epoch 2"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the launcher and both workers, mid-run
    process.wait(timeout=60)

    resumed = fit(tmp_path, 2, *options)
    assert resumed["resumed_from_epoch"] == 2
    assert [r["val_accuracy"] for r in resumed["history"]] == [
        r["val_accuracy"] for r in uninterrupted["history"]
    ]
    np.testing.assert_allclose(
        resumed["test_logits"], uninterrupted["test_logits"], atol=LOGIT_TOLERANCE
    )


def test_shard_losses_scaled_and_averaged_give_the_global_batch_mean() -> None:
    """What DDP computes from the scaled shard losses is the one-process batch mean, also
    when the batch does not split evenly."""
    losses = np.random.default_rng(0).random(11)
    indices = np.arange(11)
    for processes in (1, 2, 3, 4):
        shards = [distributed.shard(indices, rank, processes) for rank in range(processes)]
        assert sorted(np.concatenate(shards).tolist()) == indices.tolist()
        scaled = [
            losses[s].mean() * distributed.loss_scale(len(s), len(indices), processes)
            for s in shards
        ]
        assert np.mean(scaled) == pytest.approx(losses.mean())


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_process_count_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(distributed.PROCESSES_ENV, value)
    with pytest.raises(TextdistillError, match=f"TEXTDISTILL_PROCESSES={value!r}"):
        distributed.requested_processes()


def test_gpus_for_a_launch_are_claimed_all_at_once_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SIMULATE_ENV, "3")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    with claimed_gpu(poll_s=0.01) as first:
        assert first is not None and first.index == 0
        with claimed_gpus(count=2, poll_s=0.01) as pair:
            assert [claim.index for claim in pair] == [1, 2]
        with (
            pytest.raises(TextdistillError, match="4 processes want a GPU each"),
            claimed_gpus(count=4),
        ):
            pass
    # Nothing was left held: all three are free again.
    with claimed_gpus(count=3, poll_s=0.01) as every:
        assert len(every) == 3


def test_a_stage_launched_as_two_processes_writes_and_logs_once(pipeline_clone: Path) -> None:
    """TEXTDISTILL_PROCESSES=2 through DVC: the stage relaunches itself under torchrun, both
    workers train, the main one alone publishes its outputs and its MLflow run."""
    repo = pipeline_clone
    stage = "student@simpler_cnn-kd"
    before = runs_by_stage(repo)[stage].info.run_id
    done = run(
        ["dvc", "repro", "-f", "-s", stage], repo, TEXTDISTILL_PROCESSES="2", OMP_NUM_THREADS="1"
    )
    assert done.stdout.count(f"{stage}: test accuracy") == 1
    metrics = json.loads((repo / "metrics/students/simpler_cnn-kd.json").read_text())
    assert metrics["train"]["processes"] == 2
    after = runs_by_stage(repo)[stage]
    assert after.info.run_id != before and after.info.status == "FINISHED"
    assert "up to date" in run(["dvc", "status", stage], repo).stdout

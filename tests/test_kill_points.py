"""A stage killed at any point leaves all of its old outputs or all of its new ones.

`prepare@amazon` and `finetune@tinybert` run as DVC runs them (the stage script, in a clone)
with new params, and are SIGKILLed at several points of their run; after each kill their
outputs must be exactly the old ones or a complete new set, never a mix of two runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import environment, make_clone, run, shrink

pytestmark = pytest.mark.slow

PREPARE = ["data/prepared/amazon", "metrics/data/amazon.json", "reports/data/amazon.md"]
FINETUNE = [
    "models/finetune/tinybert",
    "metrics/finetune/tinybert.json",
    "metrics/finetune/tinybert",
]


def snapshot(repo: Path, outputs: list[str]) -> dict[str, str]:
    """A digest of every file of each output (directories walked), by output."""
    digests = {}
    for name in outputs:
        path = repo / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        digest = hashlib.sha256()
        for file in files:
            digest.update(f"{file.relative_to(repo)}:".encode() + file.read_bytes())
        digests[name] = digest.hexdigest()
    return digests


def new_params(repo: Path, edit: dict) -> Path:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for dotted, value in edit.items():
        node = params
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    path = repo / "new-params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def stage_command(repo: Path, stage: str, params: Path) -> list[str]:
    """The stage's cmd as DVC resolved it (dvc.lock), run with another params file."""
    cmd = yaml.safe_load((repo / "dvc.lock").read_text())["stages"][stage]["cmd"]
    args = cmd.split()
    assert args[:2] == ["PYTHONPATH=src", "python"], cmd
    return [sys.executable, *args[2:], "--params", str(params)]


def kill_after(repo: Path, command: list[str], seconds: float) -> int:
    process = subprocess.Popen(
        command,
        cwd=repo,
        env=environment(PYTHONPATH="src"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        return process.wait()


def check_kills(
    repo: Path, stage: str, outputs: list[str], edit: dict, delays: list[float]
) -> None:
    run(["dvc", "repro", stage], repo)
    old = snapshot(repo, outputs)
    params = new_params(repo, edit)
    command = stage_command(repo, stage, params)
    kills = 0
    for delay in delays:
        code = kill_after(repo, command, delay)
        now = snapshot(repo, outputs)
        if code == 0:  # finished before the kill: all new
            assert all(now[name] != old[name] for name in outputs)
            break
        kills += 1
        # Killed after the swap (while logging to MLflow) is all new; before it, all old.
        changed = [name for name in outputs if now[name] != old[name]]
        assert changed in ([], outputs), f"{stage} killed after {delay} s changed only {changed}"
    assert kills >= 3, f"only {kills} kills landed before {stage} finished: lengthen the delays"
    done = subprocess.run(command, cwd=repo, env=environment(PYTHONPATH="src"), check=False)
    assert done.returncode == 0
    new = snapshot(repo, outputs)
    assert all(new[name] != old[name] for name in outputs)
    leftovers = [p for name in outputs for p in (repo / name).parent.glob(".*staged-*")]
    assert not leftovers, f"temporaries left: {leftovers}"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path) -> Path:
    return make_clone(tmp_path_factory.mktemp("kills") / "repo", mlflow_template, edit=shrink)


def test_prepare_killed_at_several_points_keeps_all_old_outputs(repo: Path) -> None:
    # Dense enough that at least three land before it ends on an idle machine (~2 s there).
    delays = [0.4, 0.8, 1.2, 1.6, 2.0, 2.5, 3.5, 5.0, 30.0]
    check_kills(repo, "prepare@amazon", PREPARE, {"prepare.amazon.splits.train": 100}, delays)
    metrics = json.loads((repo / "metrics/data/amazon.json").read_text())
    assert metrics["rows"]["train"] == 100


def test_finetune_killed_at_several_points_keeps_all_old_outputs(repo: Path) -> None:
    # Dense enough that at least three land before the tiny fine-tune ends on a fast machine.
    delays = [1.0, 2.5, 4.0, 5.5, 7.0, 9.0, 12.0, 16.0, 120.0]
    edit = {"finetune.models.tinybert": {"lr": 1.0e-4}}
    check_kills(repo, "finetune@tinybert", FINETUNE, edit, delays)
    card = (repo / "models/finetune/tinybert/README.md").read_text()
    assert "lr 0.0001" in card

"""Shared fixtures: an MLflow database template (migrations run once per session) and helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow sqlite database; copying it is much faster than migrating."""
    from textdistill.tracking import connect

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    connect(f"sqlite:///{path}")
    return path


@pytest.fixture
def mlflow_db(tmp_path: Path, mlflow_template: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh tracking database for one test, set as MLFLOW_TRACKING_URI."""
    path = tmp_path / "mlflow.db"
    shutil.copyfile(mlflow_template, path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{path}")
    return path


def environment(**extra: str) -> dict[str, str]:
    """The environment `make repro` gives stages: the project's python and dvc first on PATH."""
    env = os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("MLFLOW_TRACKING_URI", None)  # each clone logs to its own mlflow.db
    return env | extra


def run(
    args: list[str], cwd: Path, check: bool = True, timeout: int = 900, **extra_env: str
) -> subprocess.CompletedProcess:
    env = environment(**extra_env)
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def commit(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
        ],
        repo,
    )


def make_clone(
    root: Path, mlflow_template: Path, edit: Callable[[Path], None] | None = None
) -> Path:
    """The working tree (tracked and unignored files, no outputs) as a fresh git repository."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if (
            (REPO / name).is_file()
            and not name.startswith(("metrics/", "reports/"))
            and name != "dvc.lock"
        ):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    shutil.copyfile(mlflow_template, root / "mlflow.db")  # migrated once: quicker than migrating
    if edit is not None:
        edit(root)
    run(["git", "init", "-q", "-b", "main"], root)
    commit(root, "clone")
    return root


TINY = {  # a few hundred rows, one epoch, short texts: every stage runs in seconds
    "download": {
        "amazon": {"sample": {"train_rows": 300, "test_rows": 80}},
        "agnews": {"sample": {"train_rows": 300, "test_rows": 80}},
    },
    "prepare": {
        "amazon": {"splits": {"train": 96, "val": 32, "test": 32}},
        "agnews": {"splits": {"train": 128, "val": 32, "test": 32}},
    },
    "finetune": {"train": {"epochs": 1, "max_length": 24}, "latency_examples": 3},
    "teacher": {
        "max_length": 24,
        "latency_examples": 3,
        "vdcnn": {"fc_dim": 64},
        "train": {"epochs": 1, "batch_size": 32},
    },
    "students": {"train": {"epochs": 1, "batch_size": 32}, "latency_examples": 3},
}


def merge(base: dict, update: dict) -> dict:
    """`base` with `update` merged in, key by key, as Hydra merges a profile into config."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def shrink(root: Path) -> None:
    """Shrink the quick profile where it is defined (conf/), then regenerate params.yaml.

    Editing params.yaml alone would not do: `dvc exp run` composes params.yaml from conf/
    (Hydra), which would silently restore the full-size quick profile.
    """
    from textdistill.profiles import compose, render

    quick = root / "conf/profile/quick.yaml"
    header = "# @package _global_\n"
    profile = merge(yaml.safe_load(quick.read_text()), TINY)
    quick.write_text(header + yaml.safe_dump(profile, sort_keys=False))
    (root / "params.yaml").write_text(render(compose("quick", conf_dir=root / "conf"), "quick"))


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path) -> tuple[Path, str]:
    repo = make_clone(tmp_path_factory.mktemp("full") / "repo", mlflow_template, edit=shrink)
    done = run(["dvc", "repro"], repo, timeout=1200)
    commit(repo, "pipeline outputs")  # queued experiments start from a commit
    return repo, done.stdout

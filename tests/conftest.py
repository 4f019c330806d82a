"""Shared fixtures: an MLflow database template (migrations run once per session) and the tiny
pipeline clone. Helpers that tests import live in helpers.py."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import PARAMS_READ, commit, make_clone, restore, run, shrink

from textdistill.config import TRACE_ENV


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


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path) -> tuple[Path, str]:
    """The tiny pipeline, reproduced once per session and committed: (clone, repro's stdout).

    Shared by every test that needs outputs; a test that changes it uses `pipeline_clone`.
    """
    repo = make_clone(tmp_path_factory.mktemp("full") / "repo", mlflow_template, edit=shrink)
    # Every stage records the params keys it reads (tests/test_params_read.py checks them).
    done = run(["dvc", "repro"], repo, timeout=1200, **{TRACE_ENV: str(repo / PARAMS_READ)})
    commit(repo, "pipeline outputs")  # queued experiments start from a commit
    return repo, done.stdout


@pytest.fixture
def pipeline_clone(pipeline: tuple[Path, str]) -> Iterator[Path]:
    """The shared pipeline clone for a test that changes it; restored afterwards even when the
    test fails, so one failure cannot cascade into the tests that run after it."""
    repo, _ = pipeline
    yield repo
    restore(repo)

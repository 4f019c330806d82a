"""Shared fixtures: an MLflow database template (migrations run once per session) and helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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

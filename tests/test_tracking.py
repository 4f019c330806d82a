"""MLflow tracking: URI under the repo root, run names and tags, flattening, fail-fast server."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from textdistill import tracking


def test_uri_defaults_to_the_dvc_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.tracking_uri() == "http://127.0.0.1:5000"


def test_run_names_and_tags_follow_dvc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_STAGE", raising=False)
    assert tracking.run_name("prepare@amazon") == "workspace/prepare@amazon"
    monkeypatch.setenv("DVC_EXP_NAME", "fuzzy-cat")
    monkeypatch.setenv("DVC_STAGE", "finetune@bert")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "abc123")
    assert tracking.run_name("ignored") == "fuzzy-cat/finetune@bert"
    tags = tracking.run_tags("ignored")
    assert tags["dvc.stage"] == "finetune@bert"
    assert tags["dvc.exp_name"] == "fuzzy-cat"
    assert tags["dvc.baseline_rev"] == "abc123"
    assert tags["git.dirty"] in {"true", "false"}


def test_flatten() -> None:
    assert tracking.flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": "x",
    }


def test_stage_run_logs_params_metrics_artifacts_and_status(
    mlflow_db: Path, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    report = tmp_path / "report.md"
    report.write_text("# hi\n")
    with tracking.stage_run(
        "prepare@amazon", {"seed": 1, "prepare": {"splits": {"train": 10}}}
    ) as run:
        run.log_metrics({"rows": {"train": 10}, "note": "skipped"})
        run.log_metrics({"val_accuracy": 0.5}, step=1)
        run.log_metrics({"val_accuracy": 0.75}, step=2)
        run.log_artifact(report)
    with pytest.raises(RuntimeError), tracking.stage_run("prepare@agnews"):
        raise RuntimeError("boom")
    client = MlflowClient(f"sqlite:///{mlflow_db}")
    runs = {
        r.info.run_name: r
        for r in client.search_runs([client.get_experiment_by_name("textdistill").experiment_id])
    }
    done = runs["workspace/prepare@amazon"]
    assert done.info.status == "FINISHED"
    assert done.data.params == {"seed": "1", "prepare.splits.train": "10"}
    assert done.data.metrics["rows.train"] == 10
    history = client.get_metric_history(done.info.run_id, "val_accuracy")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.75)]
    assert [a.path for a in client.list_artifacts(done.info.run_id)] == ["report.md"]
    assert runs["workspace/prepare@agnews"].info.status == "FAILED"


def test_unreachable_server_fails_fast_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(tracking.TrackingError) as error, tracking.stage_run("finetune@bert"):
        pytest.fail("the stage body must not run when tracking is unusable")
    assert time.monotonic() - start < 30
    assert f"127.0.0.1:{port}" in str(error.value) and "MLFLOW_TRACKING_URI" in str(error.value)


def test_a_run_shorter_than_one_sampling_interval_still_has_system_metrics(
    mlflow_db: Path,
) -> None:
    from mlflow import MlflowClient

    from textdistill.tracking import stage_run

    with stage_run("instant", {"a": 1}, system_metrics=True) as run:
        run_id = run.run_id  # ends well before the first 10-second sample
    metrics = MlflowClient(f"sqlite:///{mlflow_db}").get_run(run_id).data.metrics
    assert metrics["system/cpu_utilization_percentage"] >= 0
    assert metrics["system/system_memory_usage_megabytes"] > 0

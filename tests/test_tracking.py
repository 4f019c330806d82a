"""MLflow tracking: URI under the repo root, run names and tags, flattening, fail-fast server,
keys MLflow accepts for any class name, and a stage that fails to track keeps its old outputs."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from textdistill import tracking

REPO = Path(__file__).resolve().parents[1]


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


# Class names MLflow refuses in a key as they are; "any label set" must still track.
ODD_NAMES = ["pos!", "C++", "ok?", "a,b", "pos 👍", "x" * 300, "a//b", "x/", "..", "", "caf\udce9"]
VALID_NAMES = ["class_balance.train.pos", "Sci/Tech", "a b:c-d_e.f", "négatif", "x" * 250]


def test_mlflow_key_gives_keys_mlflow_accepts_distinct_and_valid_ones_unchanged() -> None:
    from mlflow.utils.validation import (
        _validate_length_limit,
        _validate_metric_name,
        _validate_param_name,
    )

    keys = [tracking.mlflow_key(f"class_balance.train.{name}") for name in ODD_NAMES]
    for key in keys + [tracking.mlflow_key(name) for name in ODD_NAMES]:
        _validate_metric_name(key)
        _validate_param_name(key)
        _validate_length_limit("key", 250, key)
    assert len(set(keys)) == len(keys)
    assert keys[:5] == [
        "class_balance.train.pos_21_",
        "class_balance.train.C_2b__2b_",
        "class_balance.train.ok_3f_",
        "class_balance.train.a_2c_b",
        "class_balance.train.pos _1f44d_",
    ]
    assert [tracking.mlflow_key(name) for name in VALID_NAMES] == VALID_NAMES
    assert tracking.mlflow_key("y" * 260) != tracking.mlflow_key("y" * 261)


def test_odd_names_and_a_name_holding_an_escape_are_logged_as_distinct_keys(
    mlflow_db: Path,
) -> None:
    from mlflow import MlflowClient

    metrics = {"pos!": 1, "pos_21_": 2, "neg": 3}
    params = {"labels": {"pos!": "a", "pos_21_": "b"}}
    with tracking.stage_run("prepare@odd", params) as run:
        run.log_metrics({"class_balance": {"train": metrics}})
        run_id = run.run_id
    data = MlflowClient(f"sqlite:///{mlflow_db}").get_run(run_id).data
    logged = {key: value for key, value in data.metrics.items() if key.startswith("class_")}
    assert sorted(logged.values()) == [1, 2, 3]
    assert logged["class_balance.train.pos_21_"] == 2  # the valid name kept its key
    assert logged["class_balance.train.neg"] == 3
    assert sorted(data.params.values()) == ["a", "b"]
    assert data.params["labels.pos_21_"] == "b"


def _write_dataset(root: Path, classes: list[str], rows: int) -> Path:
    """A table dataset `mine` with these classes, and params.yaml naming it; its path."""
    lines = "".join(
        f"text {i} {classes[i % len(classes)]},{classes[i % len(classes)]}\n" for i in range(rows)
    )
    (root / "train.csv").write_text("text,label\n" + lines, encoding="utf-8")
    (root / "test.csv").write_text("text,label\n" + lines.replace("text", "test"), encoding="utf-8")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["download"]["mine"] = {
        "format": "table",
        "classes": classes,
        "source": "files",
        "files": {"train": str(root / "train.csv"), "test": str(root / "test.csv")},
        "columns": {"text": "text", "label": "label"},
    }
    params["prepare"]["mine"] = {
        "splits": {"train": "all", "val": 1, "test": "all", "test_from": "test"}
    }
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


def _download_and_prepare(root: Path, params: Path) -> Result:
    from stages.download import main as download_main
    from stages.prepare import main as prepare_main

    raw = str(root / "data/raw/mine")
    done = CliRunner().invoke(download_main, ["mine", "--out", raw, "--params", str(params)])
    assert done.exit_code == 0, done.output
    args = ["mine", "--raw", raw, "--out", str(root / "data/prepared/mine")]
    args += ["--metrics", str(root / "metrics/data/mine.json")]
    args += ["--report", str(root / "reports/data/mine.md"), "--params", str(params)]
    return CliRunner().invoke(prepare_main, args)


def _outputs(root: Path) -> dict[str, bytes]:
    paths = ["metrics/data/mine.json", "reports/data/mine.md"]
    paths += [str(p.relative_to(root)) for p in (root / "data/prepared/mine").rglob("*")]
    return {path: (root / path).read_bytes() for path in sorted(paths) if (root / path).is_file()}


def test_prepare_tracks_classes_mlflow_refuses_in_keys(
    mlflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)  # stage_outputs keeps its locks under .cache/
    params = _write_dataset(tmp_path, ["neg", "pos!", "C++", "pos 👍"], 12)
    done = _download_and_prepare(tmp_path, params)
    assert done.exit_code == 0, done.output
    client = MlflowClient(f"sqlite:///{mlflow_db}")
    experiment = client.get_experiment_by_name("textdistill")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    written = json.loads((tmp_path / "metrics/data/mine.json").read_text(encoding="utf-8"))
    balance = written["class_balance"]["train"]
    assert set(balance) == {"neg", "pos!", "C++", "pos 👍"}
    metrics = run.data.metrics
    assert metrics["class_balance.train.pos_21_"] == balance["pos!"]
    assert metrics["class_balance.train.C_2b__2b_"] == balance["C++"]
    assert metrics["class_balance.train.pos _1f44d_"] == balance["pos 👍"]
    assert metrics["class_balance.train.neg"] == balance["neg"]
    artifacts = sorted(a.path for a in client.list_artifacts(run.info.run_id))
    assert artifacts == ["mine.json", "mine.md"]  # the published names, not the staged ones


def test_a_tracking_failure_in_prepare_leaves_the_earlier_outputs(
    mlflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        _download_and_prepare(tmp_path, _write_dataset(tmp_path, ["neg", "pos"], 8)).exit_code == 0
    )
    before = _outputs(tmp_path)
    assert "metrics/data/mine.json" in before and len(before) > 2

    def fail(self: tracking.StageRun, metrics: object, step: int | None = None) -> None:
        raise tracking.TrackingError("the tracking store went away")

    monkeypatch.setattr(tracking.StageRun, "log_metrics", fail)
    done = _download_and_prepare(tmp_path, _write_dataset(tmp_path, ["neg", "pos"], 20))
    assert done.exit_code != 0
    assert "the tracking store went away" in done.output
    assert _outputs(tmp_path) == before

"""The whole pipeline on tiny data in a fresh clone: leaderboard, metrics, MLflow API, predict.

Params are shrunk (a few hundred rows, one epoch, short texts) so every stage runs in seconds;
the graph, the scripts and the code are the real ones.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import run, runs_by_stage

pytestmark = pytest.mark.slow

MODELS = ["finetune/bert", "finetune/distilbert", "finetune/tinybert", "teacher"] + [
    f"student/{arch}-{kd}"
    for arch in ("simple_cnn", "simpler_cnn")
    for kd in ("none", "kd", "dist", "mse")
]


def test_every_stage_ran_and_the_leaderboard_lists_every_model(pipeline: tuple[Path, str]) -> None:
    repo, _ = pipeline
    board = (repo / "reports/leaderboard.md").read_text()
    for name in MODELS:
        assert f"| {name} |" in board
    assert "smoke figures" in board
    summary = json.loads((repo / "metrics/summary.json").read_text())
    assert set(summary["student"]) == {
        name.split("/")[1] for name in MODELS if name.startswith("student")
    }


def test_every_classifier_is_calibrated_on_validation(pipeline: tuple[Path, str]) -> None:
    """The metrics report the temperature predict applies: the one in model.json."""
    repo, _ = pipeline
    for name in MODELS:
        kind, _, model = name.partition("/")
        where = {"finetune": "finetune/", "student": "students/"}.get(kind, "")
        metrics = json.loads((repo / f"metrics/{where}{model or kind}.json").read_text())
        spec = json.loads((repo / f"models/{where}{model or kind}/model.json").read_text())
        temperature = metrics["calibration"]["temperature"]
        assert temperature > 0 and round(spec["calibration_temperature"], 6) == temperature
        assert set(metrics["calibration"]["uncalibrated"]) == {"loss", "ece"}


def test_second_repro_is_a_no_op_and_metrics_show_works(pipeline: tuple[Path, str]) -> None:
    repo, _ = pipeline
    again = run(["dvc", "repro"], repo)
    assert "Running stage" not in again.stdout and "up to date" in again.stdout
    shown = run(["dvc", "metrics", "show", "--json"], repo)
    assert "summary.json" in shown.stdout and "accuracy" in shown.stdout


def test_predict_with_a_distilled_student(pipeline: tuple[Path, str]) -> None:
    repo, _ = pipeline
    done = run(
        [
            "textdistill",
            "predict",
            "--model",
            "models/students/simple_cnn-dist",
            "stocks and shares rose",
        ],
        repo,
    )
    label = done.stdout.split("\t")[0]
    assert label in {"World", "Sports", "Business", "Sci/Tech"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_mlflow_server_serves_a_run_per_stage_with_metrics(pipeline: tuple[Path, str]) -> None:
    repo, _ = pipeline
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{repo / 'mlflow.db'}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        experiment = json.load(
            urllib.request.urlopen(
                f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=textdistill"
            )
        )
        request = urllib.request.Request(
            f"{base}/api/2.0/mlflow/runs/search",
            data=json.dumps(
                {"experiment_ids": [experiment["experiment"]["experiment_id"]], "max_results": 1000}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        runs = json.load(urllib.request.urlopen(request))["runs"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    by_stage = {}
    for found in runs:
        tags = {t["key"]: t["value"] for t in found["data"].get("tags", [])}
        metrics = {m["key"]: m["value"] for m in found["data"].get("metrics", [])}
        by_stage[tags["dvc.stage"]] = (found["info"]["status"], metrics, found["info"]["run_name"])
    expected = (
        ["prepare@amazon", "prepare@agnews", "teacher"]
        + [f"finetune@{m}" for m in ("bert", "distilbert", "tinybert")]
        + [
            f"student@{a}-{k}"
            for a in ("simple_cnn", "simpler_cnn")
            for k in ("none", "kd", "dist", "mse")
        ]
    )
    for stage in expected:
        status, metrics, name = by_stage[stage]
        assert status == "FINISHED" and name == f"workspace/{stage}"
        key = "rows.train" if stage.startswith("prepare") else "test.accuracy"
        assert key in metrics, (stage, sorted(metrics))


def test_every_training_run_names_its_dataset_in_mlflow(pipeline: tuple[Path, str]) -> None:
    """The MLflow UI's Dataset column: each split's digest, rows and the raw files' origin."""
    repo, _ = pipeline
    by_stage = runs_by_stage(repo)
    rows = json.loads((repo / "metrics/data/amazon.json").read_text())["rows"]
    inputs = by_stage["finetune@bert"].inputs.dataset_inputs
    datasets = {item.dataset.name: item for item in inputs}
    assert set(datasets) == {"amazon/train", "amazon/val", "amazon/test"}
    train = datasets["amazon/train"]
    assert json.loads(train.dataset.profile)["num_rows"] == rows["train"]
    assert "sample" in train.dataset.source and train.tags[0].value == "train"
    names = {item.dataset.name for item in by_stage["student@simpler_cnn-kd"].inputs.dataset_inputs}
    assert names == {"agnews/train", "agnews/val", "agnews/test"}


def test_training_runs_carry_system_metrics(pipeline: tuple[Path, str]) -> None:
    """MLflow's System metrics tab: CPU and memory sampled while each model trained."""
    repo, _ = pipeline
    by_stage = runs_by_stage(repo)
    for stage in ("finetune@bert", "teacher", "student@simple_cnn-mse"):
        metrics = by_stage[stage].data.metrics
        assert metrics["system/cpu_utilization_percentage"] >= 0, stage
        assert metrics["system/system_memory_usage_megabytes"] > 0, stage
    assert not any(key.startswith("system/") for key in by_stage["prepare@agnews"].data.metrics)


def test_multitask_stage_scores_each_task_and_logs_per_task_curves(
    pipeline: tuple[Path, str],
) -> None:
    """One encoder on a single-text, a pair and a regression task, beside each task alone:
    per-task test metrics, per-task validation curves in MLflow, every dataset as an input."""
    repo, _ = pipeline
    joint = json.loads((repo / "metrics/multitask/joint.json").read_text())["test"]
    for key in ("sentiment/accuracy", "paraphrase/accuracy", "similarity/pearson"):
        assert -1 <= joint[key] <= 1, key
    scores = [
        joint["sentiment/accuracy"],
        joint["paraphrase/accuracy"],
        joint["similarity/pearson"],
    ]
    assert joint["score"] == pytest.approx(sum(scores) / 3, abs=1e-5)
    for task, metric in (("sentiment", "accuracy"), ("similarity", "pearson")):
        alone = json.loads((repo / f"metrics/multitask/{task}.json").read_text())["test"]
        assert set(alone) == {key for key in joint if key.startswith(f"{task}/")} | {
            "score",
            "loss",
        }
        assert alone["score"] == alone[f"{task}/{metric}"]
    curves = (repo / "metrics/multitask/joint/curves.csv").read_text().splitlines()[0]
    assert curves.startswith("epoch,train_loss,val_loss,val_score,val_sentiment/accuracy")
    run = runs_by_stage(repo)["multitask"]
    assert "val_paraphrase/accuracy" in run.data.metrics
    names = {item.dataset.name for item in run.inputs.dataset_inputs}
    assert {"reviews/train", "paraphrase/val", "similarity/test"} <= names
    board = (repo / "reports/leaderboard.md").read_text()
    assert "| similarity | similarity | pearson |" in board
    summary = json.loads((repo / "metrics/summary.json").read_text())
    assert summary["multitask"]["paraphrase"]["joint"] == joint["paraphrase/accuracy"]
    card = (repo / "models/multitask/joint/README.md").read_text()
    assert "sentence pairs with a regression target in [0, 5]" in card

"""Reliability under what users do: interrupted runs, a dead tracking server, reruns,
experiments side by side and at once. Runs on the tiny pipeline clone (see conftest); the
`pipeline_clone` fixture restores it after each test, passed or failed."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from helpers import environment, restore, run

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
CHECKPOINT = ".cache/checkpoints/finetune-tinybert/last.pt"


def set_param(repo: Path, path: list[str], value: object) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    node = params
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_sigkilled_training_stage_resumes_and_loses_nothing(pipeline_clone: Path) -> None:
    repo = pipeline_clone
    set_param(repo, ["finetune", "models", "tinybert"], {"lr": 1.0e-4, "epochs": 4})
    stage = ["dvc", "repro", "finetune@tinybert"]
    proc = subprocess.Popen(
        stage,
        cwd=repo,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not (repo / CHECKPOINT).is_file():  # wait for the first epoch's checkpoint
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    leftovers = [p for p in (repo / "models").rglob("*") if ".tmp" in p.name]
    assert leftovers == [], f"half-written outputs left behind: {leftovers}"

    resumed = run(stage, repo)
    assert "resuming from" in resumed.stdout + resumed.stderr
    epochs_run = json.loads((repo / "metrics/finetune/tinybert.json").read_text())
    assert epochs_run["train"]["epochs_run"] == 4
    resumed_curves = (repo / "metrics/finetune/tinybert/curves.csv").read_text()

    # The same stage uninterrupted, from scratch: identical validation curve and test metrics.
    run(["dvc", "repro", "-f", "finetune@tinybert"], repo)
    fresh = json.loads((repo / "metrics/finetune/tinybert.json").read_text())
    assert fresh["test"] == epochs_run["test"]
    columns = lambda text: [line.split(",")[:5] for line in text.splitlines()]  # noqa: E731 (drop seconds)
    assert columns((repo / "metrics/finetune/tinybert/curves.csv").read_text()) == columns(
        resumed_curves
    )


def test_training_is_deterministic_on_cpu(pipeline_clone: Path) -> None:
    repo = pipeline_clone
    stages = ["finetune@distilbert", "teacher", "student@simple_cnn-dist"]
    paths = [
        "metrics/finetune/distilbert.json",
        "metrics/teacher.json",
        "metrics/students/simple_cnn-dist.json",
    ]
    before = [json.loads((repo / p).read_text())["test"] for p in paths]
    for stage in stages:
        run(["dvc", "repro", "-f", "-s", stage], repo)
    after = [json.loads((repo / p).read_text())["test"] for p in paths]
    assert after == before


def test_unreachable_tracking_server_fails_before_training(pipeline_clone: Path) -> None:
    repo = pipeline_clone
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = (repo / "models/finetune/bert/model.safetensors").read_bytes()
    start = time.monotonic()
    done = run(
        ["dvc", "repro", "-f", "-s", "finetune@bert"],
        repo,
        check=False,
        MLFLOW_TRACKING_URI=f"http://127.0.0.1:{port}",
    )
    assert done.returncode != 0
    assert f"127.0.0.1:{port}" in done.stderr and "MLFLOW_TRACKING_URI" in done.stderr
    assert time.monotonic() - start < 120
    assert not (repo / ".cache/checkpoints/finetune-bert").exists()  # no epoch was trained
    assert (repo / "models/finetune/bert/model.safetensors").read_bytes() == model


def stages_run(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def test_experiments_rerun_only_what_depends_on_the_changed_param(pipeline_clone: Path) -> None:
    repo = pipeline_clone
    dist = run(["dvc", "exp", "run", "-n", "tau4", "-S", "kd.dist.tau=4"], repo)
    assert stages_run(dist.stdout) == {
        "student@simple_cnn-dist",
        "student@simpler_cnn-dist",
        "evaluate",
    }
    restore(repo)
    focal = run(["dvc", "exp", "run", "-n", "focal", "-S", "loss=focal"], repo)
    assert stages_run(focal.stdout) == {
        "finetune@bert",
        "finetune@distilbert",
        "finetune@tinybert",
        "evaluate",
    }
    shown = run(["dvc", "exp", "show", "--only-changed", "--no-pager", "--md"], repo).stdout
    header = [column.strip() for column in shown.splitlines()[0].split("|")]
    rows = [[cell.strip() for cell in line.split("|")] for line in shown.splitlines()[2:]]
    losses = {row[header.index("loss")] for row in rows if len(row) == len(header)}
    assert {"ce", "focal"} <= losses, shown  # the two losses side by side
    # --only-changed keeps the metrics that differ; the summary's names are readable ones
    # (which of them differ on the tiny pipeline, that barely trains, is up to chance).
    assert any(column.startswith("finetune.bert.") for column in header), header
    diff = run(["dvc", "metrics", "diff", "--md"], repo).stdout
    assert "finetune.bert." in diff and "metrics/finetune/bert.json" in diff, diff


def test_two_queued_experiments_run_at_once_and_both_are_tracked(pipeline_clone: Path) -> None:
    repo = pipeline_clone
    for tau in (2, 3):
        run(
            [
                "dvc",
                "exp",
                "run",
                "--queue",
                "-n",
                f"q-tau{tau}",
                "-S",
                f"kd.dist.tau={tau}",
                "student@simpler_cnn-dist",
            ],
            repo,
        )
    # Two simulated GPUs: each training stage claims one (textdistill.devices).
    run(["dvc", "queue", "start", "-j", "2"], repo, TEXTDISTILL_GPU_COUNT="2")
    deadline = time.monotonic() + 600
    while True:
        status = run(["dvc", "queue", "status"], repo).stdout
        if "Queued" not in status and "Running" not in status:
            break
        assert time.monotonic() < deadline, status
        time.sleep(2)
    assert status.count("Success") >= 2, status
    with sqlite3.connect(repo / "mlflow.db") as db:
        names = {row[0] for row in db.execute("select name from runs where status = 'FINISHED'")}
        claims = db.execute(
            "select runs.name, runs.start_time, runs.end_time, tags.value from runs "
            "join tags on tags.run_uuid = runs.run_uuid "
            "where tags.key = 'gpu.claimed' and runs.name like 'q-tau%'"
        ).fetchall()
    assert {"q-tau2/student@simpler_cnn-dist", "q-tau3/student@simpler_cnn-dist"} <= names
    assert {name for name, *_ in claims} == {
        "q-tau2/student@simpler_cnn-dist",
        "q-tau3/student@simpler_cnn-dist",
    }
    assert {value for *_, value in claims} <= {"0 (simulated)", "1 (simulated)"}
    (_, start_a, end_a, gpu_a), (_, start_b, end_b, gpu_b) = claims
    if start_a < end_b and start_b < end_a:  # trained at the same time: never on one GPU
        assert gpu_a != gpu_b, claims


def test_students_distil_from_a_fine_tuned_encoder_chosen_in_params(pipeline_clone: Path) -> None:
    """`students.teacher: models/finetune/bert`: the fine-tune moves to the teacher's data, its
    logits label the transfer set, and the students' compression is against it; then the
    ensemble of every fine-tune (`models/finetune`) teaches the same way."""
    repo = pipeline_clone
    done = run(
        [
            "dvc",
            "exp",
            "run",
            "-S",
            "finetune.dataset=agnews",
            "-S",
            "students.teacher=models/finetune/bert",
        ],
        repo,
        timeout=1500,
    )
    assert {"teacher_logits", "student@simpler_cnn-mse"} <= stages_run(done.stdout)
    assert {"features", "teacher", "transfer"}.isdisjoint(stages_run(done.stdout))
    logits = json.loads((repo / "metrics/teacher_logits.json").read_text())
    assert logits["teacher"] == "models/finetune/bert"
    board = {
        row["name"]: row
        for row in csv.DictReader((repo / "metrics/leaderboard.csv").open(encoding="utf-8"))
    }
    bert = float(board["finetune/bert"]["parameters"])
    student = board["student/simpler_cnn-mse"]
    assert float(student["compression"]) == pytest.approx(
        bert / float(student["parameters"]), rel=0.01
    )

    # The ensemble of every fine-tune (`models/finetune`): the fine-tunes are reused, only their
    # logits (averaged), the students and the leaderboard rerun; the students compare with it.
    done = run(
        [
            "dvc",
            "exp",
            "run",
            "-S",
            "finetune.dataset=agnews",
            "-S",
            "students.teacher=models/finetune",
        ],
        repo,
        timeout=1500,
    )
    assert {"teacher_logits", "student@simpler_cnn-mse", "evaluate"} <= stages_run(done.stdout)
    assert not any(stage.startswith("finetune@") for stage in stages_run(done.stdout))
    logits = json.loads((repo / "metrics/teacher_logits.json").read_text())
    tuned = [f"finetune/{name}" for name in ("bert", "distilbert", "tinybert")]
    assert [m["teacher"] for m in logits["members"]] == [f"models/{name}" for name in tuned]
    board = {
        row["name"]: row
        for row in csv.DictReader((repo / "metrics/leaderboard.csv").open(encoding="utf-8"))
    }
    ensemble = board["finetune/ensemble"]
    assert float(ensemble["accuracy"]) == logits["test"]["accuracy"]
    assert int(ensemble["parameters"]) == sum(int(board[name]["parameters"]) for name in tuned)
    student = board["student/simpler_cnn-mse"]
    assert float(student["compression"]) == pytest.approx(
        float(ensemble["parameters"]) / float(student["parameters"]), rel=0.01
    )

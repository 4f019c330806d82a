"""benchmarks/reproduce_check.py: a reproduced checkout's test scores against the committed ones."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from helpers import benchmark

reproduce_check = benchmark("reproduce_check")


def _write(root: Path, name: str, metrics: dict) -> None:
    path = root / "metrics" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics))


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_each_model_is_compared_with_its_committed_score(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    committed_on = {"cpu": "Intel(R) Xeon(R) Processor"}  # written before metrics named kernels
    _write(
        repo,
        "students/a.json",
        {"test": {"accuracy": 0.80}, "best_epoch": 2} | {"machine": committed_on},
    )
    _write(repo, "multitask/joint.json", {"test": {"score": 0.70, "loss": 1.0}, "best_epoch": 1})
    _write(repo, "data/agnews.json", {"rows": 10})  # no test score: not a model
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "committed")
    # the reproduction: one model moved, another is new (nothing committed to compare with)
    capped = {"cpu": "AMD EPYC", "kernels": "AVX2 (ATEN_CPU_CAPABILITY=avx2)"}
    _write(
        repo, "students/a.json", {"test": {"accuracy": 0.77}, "best_epoch": 3} | {"machine": capped}
    )
    _write(repo, "students/new.json", {"test": {"accuracy": 0.5}})

    check = reproduce_check
    rows = check.compare(repo, repo, "HEAD")

    assert [row["metrics"] for row in rows] == [
        "metrics/multitask/joint.json",
        "metrics/students/a.json",
    ]
    moved = rows[1]
    assert (moved["committed"], moved["reproduced"]) == (0.80, 0.77)
    assert moved["difference_points"] == -3.0
    assert moved["best_epoch"] == [2, 3]
    assert moved["committed_on"] == "Intel(R) Xeon(R) Processor"
    assert moved["reproduced_on"] == "AMD EPYC; kernels AVX2 (ATEN_CPU_CAPABILITY=avx2)"
    assert rows[0]["difference_points"] == 0.0
    assert check.worst(rows) == 3.0
    assert "**over**" in check.table(rows, tolerance=1.0).splitlines()[3]
    assert "**over**" not in check.table(rows, tolerance=5.0)


def test_headline_is_accuracy_else_the_multitask_score() -> None:
    check = reproduce_check
    assert check.headline({"test": {"accuracy": 0.9, "score": 0.1}}) == 0.9
    assert check.headline({"test": {"score": 0.4}}) == 0.4
    assert check.headline({"rows": 3}) is None

"""benchmarks/real_data.py: the `files` source on the real files, and the report's verdicts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import real_data  # noqa: E402

needs_shared = pytest.mark.skipif(
    not real_data.SHARED.is_dir(),
    reason=f"the real data is not beside the repo: {real_data.SHARED}",
)


@needs_shared
@pytest.mark.slow
def test_real_files_parse_and_split_to_the_sources_sizes(tmp_path: Path) -> None:
    real_data.main(["data", "--work", str(tmp_path / "work"), "--out", str(tmp_path)])
    entry = json.loads((tmp_path / "data.json").read_text())
    assert entry["complete"]
    rows = {name: item["rows"] for name, item in entry["results"].items()}
    assert rows["amazon"] | {"raw_train": 5000, "raw_test": 6459} == rows["amazon"]
    assert (rows["amazon"]["train"], rows["amazon"]["val"], rows["amazon"]["test"]) == (
        1600,
        400,
        200,
    )
    assert rows["amazon_all_test"]["test"] == 6459
    split = rows["agnews_test_csv"]
    assert (split["raw_train"], split["train"], split["val"], split["test"]) == (
        7600,
        4600,
        1000,
        2000,
    )
    balance = entry["results"]["agnews_test_csv"]["class_balance"]["train"]
    assert all(abs(share - 0.25) < 0.01 for share in balance.values())


def distill_entry(accuracies: dict[str, list[float]], complete: bool = True) -> dict:
    def run(accuracy: float) -> dict:
        test = {"accuracy": accuracy, "macro_f1": accuracy}
        return {
            "test": test,
            "parameters": 10,
            "cpu": {"latency_ms": 1.0},
            "teacher_agreement": 0.9,
        }

    runs = {"teacher": run(0.9)} | {
        f"{name}/seed{seed}": run(acc)
        for name, values in accuracies.items()
        for seed, acc in enumerate(values)
    }
    train = {"optimizer": "adam", "lr": 0.001, "epochs": 2, "batch_size": 8}
    return {
        "command": "python benchmarks/real_data.py distill",
        "machine": {"cpu": "test", "cpus": 2, "torch": "x"},
        "complete": complete,
        "results": {
            "rows": {"train": 8, "val": 2, "test": 2},
            "teacher_settings": {"max_length": 64, "train": train, "seed": 42},
            "student_settings": {"train": train},
            "seeds": [0, 1, 2],
            "runs": runs,
        },
    }


def test_report_judges_kd_on_the_mean_over_three_seeds() -> None:
    entry = distill_entry(
        {
            "simpler_cnn-none": [0.80, 0.82, 0.81],
            "simpler_cnn-kd": [0.83, 0.83, 0.83],
            "simpler_cnn-dist": [0.79, 0.80, 0.81],
        }
    )
    report = real_data.render_report({"distill": entry})
    assert "Partial" not in report
    assert (
        "simpler_cnn with kd beats plain simpler_cnn over seeds [0, 1, 2]: +2.00 points." in report
    )
    assert (
        "simpler_cnn with dist does not beat plain simpler_cnn over seeds [0, 1, 2]: -1.00"
        in report
    )
    assert "| simpler_cnn-none | 0, 1, 2 | 0.8100 +- 0.0082 |" in report


def test_report_marks_a_partial_run_and_gives_no_verdict_on_fewer_than_three_seeds() -> None:
    entry = distill_entry(
        {"simple_cnn-none": [0.70, 0.72], "simple_cnn-dist": [0.75, 0.76, 0.74]}, complete=False
    )
    report = real_data.render_report({"distill": entry})
    assert "**Partial: the run did not finish" in report
    assert "| simple_cnn-none | 0, 1 | 0.7100 +- 0.0100 |" in report
    assert "simple_cnn with dist: no verdict, 2 seed(s) shared with plain simple_cnn." in report
    assert "beats" not in report

"""The leaderboard: rows from metrics files, compression and speed-up, summary, README block."""

from __future__ import annotations

import json
from pathlib import Path

from textdistill.leaderboard import (
    README_END,
    README_START,
    distill_entries,
    finetune_entries,
    leaderboard,
    render,
    summary,
    with_results,
)


def metrics(path: Path, accuracy: float, parameters: int, latency: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "test": {
                    "accuracy": accuracy,
                    "macro_f1": accuracy - 0.01,
                    "ece": 0.05,
                    "loss": 0.4,
                },
                "model": {"parameters": parameters, "size_mb": parameters / 250_000},
                "cpu": {"latency_ms": latency, "examples_per_s": 1000 / latency},
                "train": {"seconds": 10.0},
            }
        )
    )


def test_rows_ratios_summary_and_source_figures(tmp_path: Path) -> None:
    metrics(tmp_path / "ft/bert.json", 0.88, 20_000_000, 20.0)
    metrics(tmp_path / "ft/tinybert.json", 0.84, 5_000_000, 5.0)
    metrics(tmp_path / "teacher.json", 0.93, 40_000_000, 40.0)
    metrics(tmp_path / "st/simple_cnn-dist.json", 0.92, 4_000_000, 2.0)
    entries = finetune_entries(["bert", "tinybert"], "ce", "amazon", tmp_path / "ft")
    entries += distill_entries(
        ["simple_cnn"], ["dist", "kd"], "agnews", tmp_path / "teacher.json", tmp_path / "st"
    )
    board = leaderboard(entries)
    assert board["name"].tolist() == [
        "finetune/bert",
        "finetune/tinybert",
        "teacher",
        "student/simple_cnn-dist",
    ]
    student = board.set_index("name").loc["student/simple_cnn-dist"]
    assert (student["compression"], student["speedup"]) == (10.0, 20.0)
    assert board.set_index("name").loc["finetune/tinybert", "compression"] == 4.0
    assert summary(board)["student"]["simple_cnn-dist"]["accuracy"] == 0.92
    assert summary(board)["teacher"]["accuracy"] == 0.93
    text = render(board, {"amazon": True, "agnews": False})
    assert "0.9225 (source)" in text and "0.8800 (source)" in text  # SEEDS.md figures
    assert "sample** data (amazon)" in text


def test_readme_results_block_is_replaced_in_place() -> None:
    readme = f"intro\n{README_START}\nold table\n{README_END}\noutro\n"
    updated = with_results(readme, "# Leaderboard\n\n| new | table |\n")
    assert updated == f"intro\n{README_START}\n| new | table |\n{README_END}\noutro\n"

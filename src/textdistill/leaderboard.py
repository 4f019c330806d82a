"""The `evaluate` stage's logic: every model's metrics in one table, beside the sources' figures.

Outputs: `metrics/summary.json` (nested keys, so `dvc metrics diff` shows e.g.
`finetune.bert.accuracy`), `metrics/leaderboard.csv` (one row per model: the accuracy-vs-
latency plot) and `reports/leaderboard.md`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from textdistill.io import read_json

# Test accuracy reported by the source studies (SEEDS.md). Keys: (branch, model, loss or KD).
SOURCE_ACCURACY: dict[tuple[str, str, str], float] = {
    ("finetune", "bert", "ce"): 0.880,
    ("finetune", "bert", "focal"): 0.905,
    ("finetune", "distilbert", "focal"): 0.900,
    ("finetune", "tinybert", "focal"): 0.850,  # invalid in the source: classified from a pooler bug
    ("teacher", "vdcnn", "ce"): 0.9326,
    ("student", "simple_cnn", "none"): 0.9087,
    ("student", "simple_cnn", "dist"): 0.9225,
    ("student", "simpler_cnn", "none"): 0.9092,
    ("student", "simpler_cnn", "dist"): 0.9146,
}
SOURCE_NOTES = {("finetune", "tinybert", "focal"): "source's TinyBERT used a pooler-output bug"}


@dataclass(frozen=True)
class Entry:
    """One trained model: where its metrics are and what it is compared with."""

    name: str  # e.g. "finetune/bert", "student/simple_cnn-dist"
    branch: str  # finetune | teacher | student
    model: str
    variant: str  # the fine-tuning loss or the KD mode
    task: str
    metrics_path: Path
    reference: str | None  # the entry it is compressed from (its teacher), if any


def finetune_entries(
    models: Sequence[str], loss: str, dataset: str, root: Path, reference: str = "bert"
) -> list[Entry]:
    ref = f"finetune/{reference}" if reference in models else None
    return [
        Entry(
            f"finetune/{m}",
            "finetune",
            m,
            loss,
            dataset,
            root / f"{m}.json",
            None if m == reference else ref,
        )
        for m in models
    ]


def distill_entries(
    archs: Sequence[str], kd_modes: Sequence[str], dataset: str, teacher: Path, students: Path
) -> list[Entry]:
    entries = [Entry("teacher", "teacher", "vdcnn", "ce", dataset, teacher, None)]
    entries += [
        Entry(f"student/{a}-{k}", "student", a, k, dataset, students / f"{a}-{k}.json", "teacher")
        for a in archs
        for k in kd_modes
    ]
    return entries


def row(entry: Entry, metrics: Mapping[str, Any]) -> dict[str, Any]:
    source = SOURCE_ACCURACY.get((entry.branch, entry.model, entry.variant))
    return {
        "name": entry.name,
        "task": entry.task,
        "variant": entry.variant,
        "accuracy": metrics["test"]["accuracy"],
        "macro_f1": metrics["test"]["macro_f1"],
        "ece": metrics["test"]["ece"],
        "parameters": metrics["model"]["parameters"],
        "size_mb": metrics["model"]["size_mb"],
        "latency_ms": metrics["cpu"]["latency_ms"],
        "examples_per_s": metrics["cpu"]["examples_per_s"],
        "train_seconds": metrics["train"]["seconds"],
        "teacher_agreement": metrics.get("teacher_agreement"),
        "source_accuracy": source,
    }


def leaderboard(entries: Sequence[Entry]) -> pd.DataFrame:
    """One row per model with compression and speed-up against its reference model."""
    rows = {e.name: row(e, read_json(e.metrics_path)) for e in entries if e.metrics_path.is_file()}
    for entry in entries:
        if entry.name not in rows:
            continue
        ref = rows.get(entry.reference) if entry.reference else None
        current = rows[entry.name]
        current["compression"] = (
            round(ref["parameters"] / current["parameters"], 2) if ref else None
        )
        current["speedup"] = round(ref["latency_ms"] / current["latency_ms"], 2) if ref else None
    return pd.DataFrame(list(rows.values()))


def summary(board: pd.DataFrame) -> dict[str, Any]:
    """Nested metrics for `dvc metrics diff`: {branch: {model: {accuracy, ...}}}."""
    out: dict[str, Any] = {}
    for record in board.to_dict("records"):
        branch, _, model = record["name"].partition("/")
        values = {k: record[k] for k in ("accuracy", "macro_f1", "ece", "latency_ms", "parameters")}
        if model:
            out.setdefault(branch, {})[model] = values
        else:
            out[branch] = values
    return out


def render(board: pd.DataFrame, smoke: Mapping[str, bool]) -> str:
    """The markdown leaderboard; sample-data tasks are flagged as smoke figures."""
    lines = ["# Leaderboard", ""]
    flagged = sorted(task for task, is_smoke in smoke.items() if is_smoke)
    if flagged:
        lines += [
            f"> Tasks on the embedded **sample** data ({', '.join(flagged)}): smoke figures that show the",
            "> pipeline works. They are not results and are not comparable with the source's figures.",
            "",
        ]
    header = (
        "| model | task | loss / KD | test acc | macro-F1 | ECE | params | size MB | CPU ms/ex | ex/s "
        "| train s | compression | speed-up | source's acc |"
    )
    lines += [header, "|" + "---|" * 14]
    for r in board.to_dict("records"):
        source = "" if pd.isna(r["source_accuracy"]) else f"{r['source_accuracy']:.4f} (source)"
        lines.append(
            f"| {r['name']} | {r['task']} | {r['variant']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['ece']:.4f} "
            f"| {r['parameters'] / 1e6:.1f}M | {r['size_mb']:.1f} | {r['latency_ms']:.2f} | {r['examples_per_s']:.0f} "
            f"| {r['train_seconds']:.0f} | {_ratio(r['compression'])} | {_ratio(r['speedup'])} | {source} |"
        )
    lines += [
        "",
        "Compression and speed-up are against the model each one is distilled or derived from "
        "(students: the teacher; DistilBERT/TinyBERT: the fine-tuned BERT), by parameters and by "
        "CPU latency (one example, one thread, tokenization included). ECE: expected calibration "
        "error, 15 bins. Source figures: SEEDS.md (test sets of 200 reviews / 7,600 news).",
    ]
    return "\n".join(lines) + "\n"


def _ratio(value: float | None) -> str:
    return "" if value is None or pd.isna(value) else f"{value:.1f}x"


README_START = "<!-- results:start (generated by `make results` from reports/leaderboard.md) -->"
README_END = "<!-- results:end -->"


def with_results(readme: str, board_markdown: str) -> str:
    """`readme` with the block between the results markers replaced by the leaderboard."""
    start, end = readme.index(README_START), readme.index(README_END)
    body = board_markdown.split("\n", 2)[2].strip()  # drop the "# Leaderboard" title
    return readme[: start + len(README_START)] + "\n" + body + "\n" + readme[end:]


def main() -> None:
    import argparse

    from textdistill.io import write_text

    parser = argparse.ArgumentParser(description="Copy reports/leaderboard.md into README.md.")
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--report", type=Path, default=Path("reports/leaderboard.md"))
    args = parser.parse_args()
    readme = args.readme.read_text(encoding="utf-8")
    write_text(args.readme, with_results(readme, args.report.read_text(encoding="utf-8")))
    print(f"{args.readme}: results section updated from {args.report}")


if __name__ == "__main__":
    main()

"""Does this machine reproduce the committed metrics? Run it after `make repro` on a fresh clone.

Every metrics file under `metrics/` that has a test score (a fine-tune, the teacher, a student,
a multitask model) is read twice, as the working tree has it and as the revision committed
it (`git show REV:path`); their headline test score (accuracy, else the multitask `score`),
best epoch and the machine each was measured on are written to
`benchmarks/reproduce_<commit>_<cpu>_<kernels>.json`, a table is printed, and the exit status is 1 when a model
moved by more than `--tolerance` points (0 otherwise).

    make repro && python benchmarks/reproduce_check.py             # against HEAD, 1 point
    python benchmarks/reproduce_check.py --rev v1.0 --tolerance 0.5

Comparing runs of one machine tells whether the pipeline is deterministic there; comparing a
machine with a different CPU tells how far float rounding (kernels differ between CPUs) moves
each model, which a recipe that converges keeps small. Without a second machine, cap the
kernels' instruction set for both the run and the check: the CPU then rounds as one without
AVX-512 would (each metrics file and this check record the kernels and caps in `machine`):

    export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
    make repro && python benchmarks/reproduce_check.py
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from textdistill.io import git, write_json
from textdistill.results import machine

REPO = Path(__file__).resolve().parents[1]


def headline(metrics: Mapping[str, Any]) -> float | None:
    """A metrics file's test accuracy (a multitask model's mean task `score`); None for a file
    without a test score (data reports, the summary)."""
    test = metrics.get("test")
    if not isinstance(test, Mapping):
        return None
    value = test.get("accuracy", test.get("score"))
    return float(value) if isinstance(value, int | float) else None


def committed(repo: Path, rev: str, path: str) -> dict[str, Any] | None:
    """The JSON at `rev:path`, or None when that revision has no such file."""
    shown = git("-C", str(repo), "show", f"{rev}:{path}")
    return json.loads(shown) if shown else None


def compare(tree: Path, repo: Path, rev: str = "HEAD") -> list[dict[str, Any]]:
    """One row per model whose metrics are both in `tree` (a checkout that reproduced) and in
    `repo` at `rev`, sorted by path."""
    rows = []
    for path in sorted((tree / "metrics").rglob("*.json")):
        name = path.relative_to(tree).as_posix()
        ours, theirs = json.loads(path.read_text()), committed(repo, rev, name) or {}
        here, before = headline(ours), headline(theirs)
        if here is None or before is None:  # not a model, or nothing committed to compare with
            continue
        rows.append(
            {
                "metrics": name,
                "committed": before,
                "reproduced": here,
                "difference_points": round(100 * (here - before), 2),
                "best_epoch": [theirs.get("best_epoch"), ours.get("best_epoch")],
                "committed_on": measured_on(theirs),
                "reproduced_on": measured_on(ours),
            }
        )
    return rows


def measured_on(metrics: Mapping[str, Any]) -> str | None:
    """The CPU a metrics file was measured on, and its kernels where the file records them."""
    found = metrics.get("machine") or {}
    cpu, kernels = found.get("cpu"), found.get("kernels")
    return f"{cpu}; kernels {kernels}" if cpu and kernels else cpu


def worst(rows: list[dict[str, Any]]) -> float:
    return max((abs(row["difference_points"]) for row in rows), default=0.0)


def table(rows: list[dict[str, Any]], tolerance: float) -> str:
    lines = [
        "| metrics | committed | reproduced | points | best epoch |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        flag = " **over**" if abs(row["difference_points"]) > tolerance else ""
        epochs = " -> ".join(str(epoch) for epoch in row["best_epoch"])
        lines.append(
            f"| {row['metrics']} | {row['committed']:.4f} | {row['reproduced']:.4f} "
            f"| {row['difference_points']:+.2f}{flag} | {epochs} |"
        )
    return "\n".join(lines)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="the revision whose metrics to compare with")
    parser.add_argument("--tolerance", type=float, default=1.0, help="points of test accuracy")
    parser.add_argument("--tree", type=Path, default=REPO, help="the checkout that reproduced")
    parser.add_argument(
        "--out", type=Path, help="default: benchmarks/reproduce_<commit>_<cpu>_<kernels>.json"
    )
    args = parser.parse_args()
    rows = compare(args.tree, REPO, args.rev)
    if not rows:
        raise SystemExit(f"no metrics in {args.tree}/metrics to compare with {args.rev}")
    here = machine()
    report = {
        "machine": here,
        "command": shlex.join(["python", *sys.argv]),
        "rev": git("-C", str(REPO), "rev-parse", "--short", args.rev),
        "reproduced_at": git("-C", str(args.tree), "rev-parse", "--short", "HEAD"),
        "tolerance_points": args.tolerance,
        "worst_points": worst(rows),
        "models": rows,
    }
    kernels = slug(here["kernels"].split()[0]) + ("_capped" if "(" in here["kernels"] else "")
    name = f"reproduce_{report['reproduced_at']}_{slug(here['cpu'])}_{kernels}.json"
    out = args.out or REPO / "benchmarks" / name
    write_json(out, report)
    print(table(rows, args.tolerance))
    print(f"\nworst {report['worst_points']:.2f} points (tolerance {args.tolerance}); wrote {out}")
    sys.exit(1 if report["worst_points"] > args.tolerance else 0)


if __name__ == "__main__":
    main()

"""How far does float rounding move a student? A recipe's sensitivity, measured on one machine.

Another CPU sums floats in another order (its kernels block and vectorise differently), so a
student trained there from the same data and seed ends at a slightly different point; a
recipe that has not converged turns that into points of test accuracy. The same happens on
one machine when the number of threads changes, so each seed is trained twice, on 2 threads
and on 1, and the difference of their test accuracies is the recipe's sensitivity to rounding;
the spread over seeds says how large that is against ordinary run-to-run noise.

Run it from a workspace with the students' inputs (after `make repro`: paths are read from the
working directory, as the stages read them), with one or more recipes, each a name and its
params overrides (dotted keys, YAML values, as `dvc exp run -S`):

    python benchmarks/recipe_stability.py --arch simple_cnn --kd none kd --seeds 0 1 2 \\
        --recipe constant students.train.schedule=constant \\
        --recipe linear students.train.schedule=linear students.train.warmup_ratio=0.1

Writes benchmarks/recipe_stability.json (--out) and prints a table.
"""

from __future__ import annotations

import argparse
import copy
import shlex
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from textdistill.config import Params
from textdistill.distill import StudentJob
from textdistill.io import read_yaml, write_json
from textdistill.results import machine

THREADS = (2, 1)


def with_overrides(params: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """`params` with each `a.b.c=value` set, the value read as `dvc exp run -S` reads it
    (YAML 1.2: `5e-4` is a number)."""
    params = copy.deepcopy(params)
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise SystemExit(f"an override is key=value, got {override!r}")
        *parents, leaf = key.split(".")
        node = params
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = read_yaml(value)
    return params


def student_accuracy(params: Params, arch: str, kd: str) -> tuple[float, int]:
    """Train one student as its stage would (no outputs written): test accuracy, best epoch."""
    dataset = params.teacher_config().dataset
    job = StudentJob.from_params(
        params,
        arch,
        kd,
        transfer_dir=Path("data/transfer", dataset),
        logits_dir=Path("data/logits", dataset),
        data_dir=Path("data/prepared", dataset),
    )
    with tempfile.TemporaryDirectory() as checkpoints:
        fitted = job.fit(checkpoint_dir=Path(checkpoints), fingerprint="", on_epoch=lambda _: None)
    return fitted.result.test_metrics["accuracy"], fitted.result.best_epoch


def measure(
    raw: dict[str, Any],
    overrides: Sequence[str],
    arch: str,
    kd: str,
    seeds: Sequence[int],
) -> dict[str, Any]:
    """Each seed on every thread count in THREADS, and the summary over seeds."""
    runs = []
    for seed in seeds:
        params = Params.model_validate(with_overrides(raw, [*overrides, f"students.seed={seed}"]))
        run: dict[str, Any] = {"seed": seed}
        for threads in THREADS:
            torch.set_num_threads(threads)
            accuracy, best_epoch = student_accuracy(params, arch, kd)
            run[f"threads_{threads}"] = {"test_accuracy": accuracy, "best_epoch": best_epoch}
            print(f"  {arch}-{kd} seed {seed}, {threads} thread(s): {accuracy:.4f}", flush=True)
        run["rounding_points"] = round(
            100 * (run["threads_1"]["test_accuracy"] - run["threads_2"]["test_accuracy"]), 2
        )
        runs.append(run)
    return {"arch": arch, "kd": kd, "runs": runs, **summary(runs)}


def summary(runs: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Mean and sample sd of the 2-thread test accuracy over seeds (points), and the mean and
    largest rounding difference."""
    accuracies = [100 * run["threads_2"]["test_accuracy"] for run in runs]
    rounding = [abs(run["rounding_points"]) for run in runs]
    return {
        "mean_points": round(statistics.mean(accuracies), 2),
        "seed_sd_points": round(statistics.stdev(accuracies), 2) if len(runs) > 1 else 0.0,
        "rounding_mean_abs_points": round(statistics.mean(rounding), 2),
        "rounding_max_abs_points": max(rounding),
    }


def table(recipes: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        "| recipe | student | seeds | test acc (mean +- sd) | rounding: mean, max |",
        "|---|---|---:|---:|---:|",
    ]
    for name, results in recipes.items():
        for r in results:
            lines.append(
                f"| {name} | {r['arch']}-{r['kd']} | {len(r['runs'])} "
                f"| {r['mean_points']:.2f} +- {r['seed_sd_points']:.2f} "
                f"| {r['rounding_mean_abs_points']:.2f}, {r['rounding_max_abs_points']:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["simple_cnn"])
    parser.add_argument("--kd", nargs="+", default=["none", "kd"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--recipe", nargs="+", action="append", metavar=("NAME", "KEY=VALUE"), required=True
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/recipe_stability.json"))
    args = parser.parse_args()
    raw = read_yaml(args.params.read_text())
    recipes: dict[str, list[dict[str, Any]]] = {}
    for name, *overrides in args.recipe:
        print(f"recipe {name}: {' '.join(overrides) or '(params as they are)'}", flush=True)
        recipes[name] = [
            measure(raw, overrides, arch, kd, args.seeds) | {"set": overrides}
            for arch in args.arch
            for kd in args.kd
        ]
    write_json(
        args.out,
        {
            "machine": machine(),
            "command": shlex.join(["python", *sys.argv]),
            "threads": list(THREADS),
            "recipes": recipes,
        },
    )
    print(table(recipes))


if __name__ == "__main__":
    main()

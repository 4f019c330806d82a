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

Another machine's kernels on this one: `--threads 1` in a workspace that ran `make repro`
with the kernels capped (`ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`, set for this
script too) and in one that ran it natively, then `--against` the native run's JSON: each
seed's test accuracy under the capped kernels minus the native one, the teacher's own
difference included (each workspace trained its own), as on a second machine.
"""

from __future__ import annotations

import argparse
import copy
import json
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
    threads: Sequence[int] = THREADS,
) -> dict[str, Any]:
    """Each seed on every thread count in `threads`, and the summary over seeds."""
    runs = []
    for seed in seeds:
        params = Params.model_validate(with_overrides(raw, [*overrides, f"students.seed={seed}"]))
        run: dict[str, Any] = {"seed": seed}
        for count in threads:
            torch.set_num_threads(count)
            accuracy, best_epoch = student_accuracy(params, arch, kd)
            run[f"threads_{count}"] = {"test_accuracy": accuracy, "best_epoch": best_epoch}
            print(f"  {arch}-{kd} seed {seed}, {count} thread(s): {accuracy:.4f}", flush=True)
        if len(threads) > 1:  # the last thread count against the first
            first, last = (
                run[f"threads_{count}"]["test_accuracy"] for count in (threads[0], threads[-1])
            )
            run["rounding_points"] = round(100 * (last - first), 2)
        runs.append(run)
    return {"arch": arch, "kd": kd, "runs": runs, **summary(runs, threads)}


def summary(runs: Sequence[dict[str, Any]], threads: Sequence[int] = THREADS) -> dict[str, float]:
    """Mean and sample sd of the first thread count's test accuracy over seeds (points), and
    with several counts the mean and largest rounding difference."""
    accuracies = [100 * run[f"threads_{threads[0]}"]["test_accuracy"] for run in runs]
    found = {
        "mean_points": round(statistics.mean(accuracies), 2),
        "seed_sd_points": round(statistics.stdev(accuracies), 2) if len(runs) > 1 else 0.0,
    }
    return found | spread(runs, "rounding_points", "rounding")


def spread(runs: Sequence[dict[str, Any]], key: str, name: str) -> dict[str, float]:
    """The mean and largest absolute `key` of the runs that have one, as `<name>_*_points`."""
    values = [abs(run[key]) for run in runs if key in run]
    if not values:
        return {}
    return {
        f"{name}_mean_abs_points": round(statistics.mean(values), 2),
        f"{name}_max_abs_points": max(values),
    }


def against(
    recipes: dict[str, list[dict[str, Any]]], threads: Sequence[int], other: dict[str, Any]
) -> None:
    """Add to each run its test accuracy minus the same recipe, student and seed's in `other`
    (another workspace's JSON of this script; the first thread count of each), in points."""
    theirs_threads = other["threads"][0]
    theirs = {
        (name, r["arch"], r["kd"], run["seed"]): run[f"threads_{theirs_threads}"]
        for name, results in other["recipes"].items()
        for r in results
        for run in r["runs"]
    }
    for name, results in recipes.items():
        for r in results:
            for run in r["runs"]:
                found = theirs.get((name, r["arch"], r["kd"], run["seed"]))
                if found is None:
                    continue
                ours = run[f"threads_{threads[0]}"]["test_accuracy"]
                run["against_points"] = round(100 * (ours - found["test_accuracy"]), 2)
                run["against_best_epoch"] = found["best_epoch"]
            r |= spread(r["runs"], "against_points", "against")


def table(recipes: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        "| recipe | student | seeds | test acc (mean +- sd) | rounding: mean, max "
        "| against: mean, max |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, results in recipes.items():
        for r in results:
            lines.append(
                f"| {name} | {r['arch']}-{r['kd']} | {len(r['runs'])} "
                f"| {r['mean_points']:.2f} +- {r['seed_sd_points']:.2f} "
                f"| {_pair(r, 'rounding')} | {_pair(r, 'against')} |"
            )
    return "\n".join(lines)


def _pair(result: dict[str, Any], name: str) -> str:
    mean = result.get(f"{name}_mean_abs_points")
    return "-" if mean is None else f"{mean:.2f}, {result[f'{name}_max_abs_points']:.2f}"


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
    parser.add_argument("--threads", nargs="+", type=int, default=list(THREADS))
    parser.add_argument(
        "--against", type=Path, help="another workspace's JSON of this script to compare with"
    )
    args = parser.parse_args()
    raw = read_yaml(args.params.read_text())
    recipes: dict[str, list[dict[str, Any]]] = {}
    for name, *overrides in args.recipe:
        print(f"recipe {name}: {' '.join(overrides) or '(params as they are)'}", flush=True)
        recipes[name] = [
            measure(raw, overrides, arch, kd, args.seeds, args.threads) | {"set": overrides}
            for arch in args.arch
            for kd in args.kd
        ]
    if args.against:
        against(recipes, args.threads, json.loads(args.against.read_text()))
    write_json(
        args.out,
        {
            "machine": machine(),
            "command": shlex.join(["python", *sys.argv]),
            "threads": args.threads,
            "recipes": recipes,
        },
    )
    print(table(recipes))


if __name__ == "__main__":
    main()

"""`make bench`: every benchmark in one run, on a fresh clone of this working tree.

1. the whole quick `dvc repro`: wall time, each stage's share of it, and peak memory
   (largest process, RSS);
2. a no-op `dvc repro` (everything up to date), and each stage script's start-up;
3. fine-tuning engine against the Hugging Face Trainer, and CPU bf16 against fp32
   (`finetune_bench.py`);
4. KD with cached teacher logits against a teacher forward pass per step, the teacher on
   cached features against recomputing them, and building a transfer set and the teacher's
   pass over it in fp32 and bf16 (`distill_bench.py`);
5. each student's single-text CPU latency against its teacher's (`latency_bench.py`).

Writes benchmarks/results.json and benchmarks/results.md and prints the table.

    python benchmarks/run_all.py            # CPU; about 20 minutes on 2 cores
    python benchmarks/run_all.py --gpu      # on a GPU machine, after make repro: benchmarks/gpu_<gpu>.json
    python benchmarks/run_all.py --startup  # only 2.'s start-up, of this tree: benchmarks/startup.json
    python benchmarks/run_all.py --pipeline # only 1. and 2., on a fresh clone: benchmarks/pipeline.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from textdistill.io import write_json

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"


def clone(dest: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if (
            (REPO / name).is_file()
            and not name.startswith(("metrics/", "reports/"))
            and name != "dvc.lock"
        ):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    env = environment()
    for args in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "bench"],
    ):
        subprocess.run(args, cwd=dest, check=True, env=env, capture_output=True)
    return dest


def environment() -> dict[str, str]:
    return os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "HF_HUB_OFFLINE": "1",
    }


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=environment(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


STAGE_START = re.compile(r"^Running stage '([^']+)':")


def stage_durations(events: list[tuple[float, str]], end: float) -> dict[str, float]:
    """Seconds from each "Running stage 'x':" line of a `dvc repro` to the next one (or to
    `end`): the stage's start-up, its work and DVC's bookkeeping after it (hashing outputs,
    writing dvc.lock). `events` are (time, line) in the order DVC printed them."""
    starts = [(at, match[1]) for at, line in events if (match := STAGE_START.match(line))]
    ends = [at for at, _ in starts[1:]] + [end]
    return {name: round(stop - at, 1) for (at, name), stop in zip(starts, ends, strict=True)}


def timed_repro(cwd: Path) -> tuple[float, dict[str, float]]:
    """`dvc repro` in `cwd`: its wall time and `stage_durations`, from its output read as it
    is printed (unbuffered, so a line's time is when it was written)."""
    env = environment() | {"PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    with subprocess.Popen(
        ["dvc", "repro"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as repro:
        assert repro.stdout is not None
        events = [(time.perf_counter(), line) for line in repro.stdout]
    end = time.perf_counter()
    if repro.returncode != 0:
        tail = "".join(line for _, line in events[-60:])
        raise SystemExit(f"dvc repro failed ({repro.returncode}):\n{tail}")
    return end - start, stage_durations(events, end)


def measure_pipeline(repo: Path) -> dict[str, Any]:
    """Benchmarks 1 and 2 on the fresh clone `repo`, and how its metrics compare with the ones
    committed at HEAD (`reproduce_check.py`: on another CPU, how far rounding moved each model)."""
    from reproduce_check import compare, worst  # beside this script: on sys.path when run

    repro_s, stages = timed_repro(repo)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    models = compare(repo, REPO, "HEAD")
    return {
        "repro_s": round(repro_s, 1),
        "stage_s": stages,
        "against_committed": {"worst_points": worst(models), "models": models},
        "noop_repro_s": round(timed(["dvc", "repro"], repo), 2),
        "peak_rss_mb": round(peak_mb, 1),
        "stage_startup_s": stage_startup(repo),
        "fixed_costs_s": fixed_costs(repo),
    }


def stage_table(pipeline: dict[str, Any]) -> str:
    """The quick `dvc repro`'s stages, slowest first, with each one's start-up."""
    startup, total = pipeline.get("stage_startup_s", {}), pipeline["repro_s"]
    lines = [
        f"Quick `dvc repro`: {total:.0f} s, of which each stage (start-up, work, DVC's"
        " bookkeeping):",
        "",
        "| stage | seconds | share | script start-up s |",
        "|---|---:|---:|---:|",
    ]
    for name, seconds in sorted(pipeline["stage_s"].items(), key=lambda item: -item[1]):
        script = name.split("@")[0]
        lines.append(
            f"| {name} | {seconds:.1f} | {seconds / total:.0%} | {startup.get(script, '-')} |"
        )
    costs = pipeline.get("fixed_costs_s")
    if costs:
        lines += [
            "",
            "What a training stage pays whatever its work (each a fresh `python -c`, seconds):",
            "",
            "| probe | seconds |",
            "|---|---:|",
            *(f"| {name} | {seconds:.2f} |" for name, seconds in costs.items()),
        ]
    committed = pipeline.get("against_committed")
    if committed:
        lines += [
            "",
            f"Its test scores against the committed metrics: worst {committed['worst_points']:.2f}"
            " points (`benchmarks/reproduce_check.py`).",
        ]
    return "\n".join(lines) + "\n"


def stage_startup(repo: Path, repeats: int = 3) -> dict[str, float]:
    """Each stage script's start-up: the median wall time of `python stages/<x>.py --help`
    (interpreter, imports, click), which every stage pays before any work."""
    env = environment() | {"PYTHONPATH": "src"}
    startup = {}
    for script in sorted((repo / "stages").glob("*.py")):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, str(script), "--help"],
                cwd=repo,
                env=env,
                capture_output=True,
                check=True,
            )
            times.append(time.perf_counter() - start)
        startup[script.stem] = round(sorted(times)[len(times) // 2], 2)
    return startup


# What a training stage pays whatever its work, each probe timed in a fresh `python -c`
# (interpreter start-up included: "python" is that alone). The optimizer's first
# `add_param_group` imports torch._dynamo, so its probe minus "torch" is that import.
MLFLOW_PROBE = "mlflow client on the sqlite store"
FIXED_COST_PROBES = {
    "python": "pass",
    "torch": "import torch",
    "torch optimizer (imports torch._dynamo)": "import torch;"
    " torch.optim.Adam([torch.zeros(1, requires_grad=True)])",
    "transformers tokenizer class": "import torch; from transformers import AutoTokenizer",
    "pandas": "import pandas",
    MLFLOW_PROBE: "from textdistill.tracking import connect; connect()",
    "mlflow pyfunc (log_model)": "import mlflow.pyfunc",
}


def fixed_costs(repo: Path, repeats: int = 3) -> dict[str, float]:
    """Median wall time of each `FIXED_COST_PROBES` snippet in a new `python -c`, with a
    throw-away MLflow database (created before timing: the first connect migrates it)."""
    with tempfile.TemporaryDirectory(prefix="textdistill-probe-") as scratch:
        env = environment() | {
            "PYTHONPATH": str(repo / "src"),
            "MLFLOW_TRACKING_URI": f"sqlite:///{Path(scratch) / 'mlflow.db'}",
        }

        def run(code: str) -> float:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, check=True
            )
            return time.perf_counter() - start

        if MLFLOW_PROBE in FIXED_COST_PROBES:
            run(FIXED_COST_PROBES[MLFLOW_PROBE])
        costs = {}
        for name, code in FIXED_COST_PROBES.items():
            times = sorted(run(code) for _ in range(repeats))
            costs[name] = round(times[len(times) // 2], 2)
    return costs


def machine(commit: str | None = None) -> dict[str, Any]:
    """What ran the benchmarks, and which commit of this tree they measured (`commit` where the
    tree is a copy without git, as on a lent GPU machine)."""
    from textdistill.io import git
    from textdistill.results import machine as measured_on  # imports torch: only when asked

    if commit is None:
        here = ("-C", str(REPO))
        dirty = " + uncommitted changes" if git(*here, "status", "--porcelain") else ""
        commit = git(*here, "rev-parse", "--short", "HEAD") + dirty
    return measured_on() | {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": commit,
    }


def teacher_pass_rows(transfer: dict[str, Any]) -> list[tuple[str, str, str]]:
    """One table row per teacher timed over the transfer set: bf16's speed over fp32's, and how
    often the two precisions pick the same class."""
    return [
        (
            f"{teacher}'s pass over it: bf16 / fp32 (texts/s)",
            f"{figures['bf16_over_fp32_speed']:.2f}x",
            f"{transfer['teacher_texts']} texts: fp32 {figures['fp32']['seconds']} s,"
            f" bf16 {figures['bf16']['seconds']} s; same class {figures['bf16_same_class']:.2%}",
        )
        for teacher, figures in transfer["teacher_pass"].items()
    ]


def processor(measured_on: dict[str, Any]) -> str:
    """What a benchmark ran on, "GPU" or "CPU", from its `machine` (whose `gpu` is "none" on a
    CPU machine)."""
    return "CPU" if measured_on.get("gpu", "none") == "none" else "GPU"


def table(results: dict[str, Any]) -> str:
    pipeline, ft, distill = results["pipeline"], results["finetune"], results["distill"]
    engine = ft["runs"]["engine"]
    device = processor(ft["machine"])
    rows = [
        (
            "quick `dvc repro`, wall time",
            f"{pipeline['repro_s']:.0f} s",
            f"peak RSS {pipeline['peak_rss_mb']:.0f} MB",
        ),
        ("no-op `dvc repro`", f"{pipeline['noop_repro_s']:.1f} s", ""),
        (
            "fine-tuning: engine / HF Trainer (samples/s)",
            f"{ft['summary']['speedup_vs_trainer']:.2f}x",
            f"acc {engine['test_accuracy']:.3f} vs {ft['runs']['trainer']['test_accuracy']:.3f}"
            f" (+-{engine['test_accuracy_stderr_points']:.1f} points)",
        ),
        (
            "fine-tuning: engine / Trainer with group_by_length",
            f"{ft['summary']['speedup_vs_trainer_grouped']:.2f}x",
            f"acc {ft['runs']['trainer_grouped']['test_accuracy']:.3f}",
        ),
        (
            "KD epoch: live teacher / cached logits",
            f"{distill['kd_epoch']['speedup']:.1f}x",
            f"{distill['kd_epoch']['live_epoch_s']:.2f} s vs {distill['kd_epoch']['cached_epoch_s']:.2f} s",
        ),
        (
            "teacher epoch: recomputed / cached features",
            f"{distill['teacher_epoch']['speedup']:.1f}x",
            f"{distill['teacher_epoch']['recomputed_epoch_s']:.2f} s vs {distill['teacher_epoch']['cached_epoch_s']:.2f} s",
        ),
    ]
    latency = results.get("latency")
    if latency:
        teacher = latency["teacher"]
        archs: dict[str, dict[str, Any]] = {}  # one row per architecture: same shape, same time
        for name, student in latency["students"].items():
            archs.setdefault(Path(name).name.split("-")[0], student)
        for arch, student in archs.items():
            rows.append(
                (
                    f"1-thread latency: {teacher['model']} / {arch} student",
                    f"{student['speedup_vs_teacher']:.1f}x",
                    f"{teacher['latency_ms']:.2f} ms vs {student['latency_ms']:.3f} ms; through"
                    f" the tokenizer's __call__ {student['tokenizer_call_latency_ms']:.3f} ms",
                )
            )
    startup = pipeline.get("stage_startup_s", {})
    if startup:
        slowest = max(startup, key=startup.__getitem__)
        rows.append(
            (
                "stage start-up (python stages/<x>.py --help), slowest",
                f"{startup[slowest]:.1f} s",
                ", ".join(f"{name} {seconds:.1f}" for name, seconds in startup.items()),
            )
        )
    transfer = distill["transfer"]
    rows += [
        (
            f"transfer set, {transfer['samples_per_example']} augmented copies per text",
            f"{transfer['build_s']:.1f} s",
            f"{transfer['rows']} rows from {transfer['labelled']} labelled",
        ),
        *teacher_pass_rows(transfer),
    ]
    bf16, fp32 = (ft["runs"][name] for name in ft["summary"]["precision_runs"])
    rows.append(
        (
            f"{device} bf16 / fp32 fine-tuning speed",
            f"{ft['summary']['bf16_over_fp32_speed']:.2f}x",
            f"acc {bf16['test_accuracy']:.3f} vs {fp32['test_accuracy']:.3f}"
            f" ({bf16['train_examples']} training examples)",
        )
    )
    if ft["summary"].get("gpu_fraction_of_peak_bf16") is not None:
        rows.append(
            (
                "GPU fine-tuning, fraction of bf16 peak",
                f"{ft['summary']['gpu_fraction_of_peak_bf16']:.1%}",
                f"{ft['runs']['engine']['tokens_per_s']:.0f} tokens/s",
            )
        )
    lines = [
        f"Machine: {results['machine'].get('cpu', '?')}, {results['machine']['cpus']} CPUs",
        "",
        "| measure | ratio / value | detail |",
        "|---|---:|---|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines) + "\n\n" + stage_table(pipeline)


# The bert-base-shaped fine-tune on a GPU: (batch size, epochs, torch.compile), the most telling
# first since a lease can end mid-run (the JSON is rewritten after each). 512 and its compiled
# twin show how much of the GPU a step leaves to kernel launches and unfused element-wise work;
# 32 is a fine-tune's usual batch. The quick split is 1,600 texts: epochs enough for 60 steps or
# more after the first epoch, whose start-up (and compilation) the steady throughput leaves out.
GPU_RUNS = ((512, 30, False), (128, 20, False), (512, 20, True), (32, 6, False))


def gpu_benchmarks(out: Path, commit: str | None) -> dict[str, Any]:
    """On a CUDA machine: the engine fine-tuning a bert-base-shaped encoder in bf16 (tokens/s,
    fraction of the bf16 peak, against the HF Trainer and fp32) for each of GPU_RUNS, on
    the quick profile's Amazon split with models/pretrained/bert's tokenizer (the weights are
    not read). `out` is rewritten after each configuration: a run cut short keeps its results.
    The distillation caches on a GPU: `distill_bench.py --device cuda` (needs the encoder)."""
    results: dict[str, Any] = {"machine": machine(commit), "finetune": {}}
    for batch_size, epochs, compiled in GPU_RUNS:
        with tempfile.TemporaryDirectory(prefix="textdistill-bench-") as scratch:
            report = Path(scratch) / "finetune.json"
            args = ["--gpu", "--bert-base-shape", "--encoder", "models/pretrained/bert"]
            args += ["--batch-size", str(batch_size), "--epochs", str(epochs)]
            args += ["--compile"] * compiled + ["--out", str(report)]
            timed([sys.executable, str(BENCH / "finetune_bench.py"), *args], REPO)
            name = f"batch_{batch_size}" + "_compiled" * compiled
            results["finetune"][name] = json.loads(report.read_text())
        write_json(out, results)
    return results


def gpu_table(results: dict[str, Any]) -> str:
    """The GPU run's figures as a markdown table."""
    rows = []
    for name, report in results["finetune"].items():
        engine, summary = report["runs"]["engine"], report["summary"]
        peak = summary.get("gpu_fraction_of_peak_bf16")
        steady = engine.get("steady_tokens_per_s") or engine["tokens_per_s"]
        rows.append(
            (
                f"bert-base-shaped fine-tune, {name.replace('_', ' ')}: engine bf16 tokens/s",
                f"{steady:.0f}",
                f"{'?' if peak is None else f'{peak:.1%}'} of the bf16 peak;"
                f" {summary['speedup_vs_trainer']:.2f}x the HF Trainer,"
                f" {summary['speedup_vs_trainer_grouped']:.2f}x with group_by_length;"
                f" bf16 {summary['bf16_over_fp32_speed']:.2f}x fp32",
            )
        )
    found = results["machine"]
    lines = [
        f"Machine: {found['gpu']}; {found.get('cpu', '?')}, {found['cpus']} CPUs; torch {found['torch']}",
        "",
        "| measure | value | detail |",
        "|---|---:|---|",
    ]
    return "\n".join(lines + [f"| {a} | {b} | {c} |" for a, b, c in rows]) + "\n"


def gpu_slug(name: str) -> str:
    """'NVIDIA H200' -> 'nvidia_h200', for the GPU run's file name."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "gpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--gpu", action="store_true", help="only the GPU benchmarks, in this tree after make repro"
    )
    parser.add_argument("--out-dir", type=Path, default=BENCH, help="where --gpu writes its JSON")
    parser.add_argument("--commit", help="the commit measured, where the tree has no git")
    parser.add_argument("--startup", action="store_true", help="only each stage's start-up")
    parser.add_argument(
        "--pipeline", action="store_true", help="only the quick dvc repro, by stage"
    )
    args = parser.parse_args()
    if args.startup:
        startup = {
            "machine": machine(),
            "stage_startup_s": stage_startup(REPO, repeats=5),
            "fixed_costs_s": fixed_costs(REPO),
        }
        (BENCH / "startup.json").write_text(json.dumps(startup, indent=2) + "\n")
        print(json.dumps(startup, indent=2))
        return
    if args.gpu:
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("--gpu needs a CUDA device")
        out = args.out_dir / f"gpu_{gpu_slug(torch.cuda.get_device_name(0))}.json"
        print(gpu_table(gpu_benchmarks(out, args.commit)))
        return
    if args.pipeline:
        with tempfile.TemporaryDirectory(prefix="textdistill-bench-") as scratch:
            timings = {"machine": machine(), **measure_pipeline(clone(Path(scratch) / "repo"))}
        (BENCH / "pipeline.json").write_text(json.dumps(timings, indent=2) + "\n")
        print(stage_table(timings))
        return
    with tempfile.TemporaryDirectory(prefix="textdistill-bench-") as scratch:
        repo = clone(Path(scratch) / "repo")
        stages = measure_pipeline(repo)
        finetune_out, distill_out = repo / "bench-finetune.json", repo / "bench-distill.json"
        # On CPU, bf16 is emulated (~15x slower than fp32): compare the precisions on a subset.
        subset = ["--precision-examples", "256"]
        timed(
            [sys.executable, str(BENCH / "finetune_bench.py"), "--out", str(finetune_out), *subset],
            repo,
        )
        timed([sys.executable, str(BENCH / "distill_bench.py"), "--out", str(distill_out)], repo)
        latency_out = repo / "bench-latency.json"
        timed([sys.executable, str(BENCH / "latency_bench.py"), "--out", str(latency_out)], repo)
        results = {
            "machine": machine(),
            "pipeline": stages,
            "finetune": json.loads(finetune_out.read_text()),
            "distill": json.loads(distill_out.read_text()),
            "latency": json.loads(latency_out.read_text()),
        }
    (BENCH / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = table(results)
    (BENCH / "results.md").write_text("# Benchmarks (`make bench`)\n\n" + markdown)
    print(markdown)


if __name__ == "__main__":
    main()

"""What every training stage writes and logs: metrics JSON, curves, confusion matrix, MLflow.

Fine-tuning, the teacher and the students all end the same way (`lifecycle.py` runs it):
`metrics/<kind>/<name>.json` (flat keys for `dvc metrics diff`), `<plots>/curves.csv` (one row
per epoch, a DVC plot), `<plots>/confusion.csv` (DVC's `confusion` template), and one MLflow
run holding the params, per-epoch curves, final metrics and these files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from textdistill.evaluate import confusion_table, count_parameters
from textdistill.io import atomic_path, sha256
from textdistill.tracking import StageRun
from textdistill.train import EpochRecord, FitResult

CURVES = "curves.csv"
CONFUSION = "confusion.csv"


def fingerprint(params: Mapping[str, Any], files: Sequence[Path] = ()) -> str:
    """A hash of a stage's params and input files: a checkpoint resumes only the same run."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for path in sorted(Path(f) for f in files):
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file():
                digest.update(f"{file.relative_to(path.parent)}:{sha256(file)}".encode())
    return digest.hexdigest()


def training_metrics(
    result: FitResult, model: nn.Module, size_mb: float, latency: Mapping[str, float]
) -> dict[str, Any]:
    """The metrics JSON of a training stage; keys are stable across models and experiments."""
    return (
        {
            "test": {key: round(value, 6) for key, value in result.test_metrics.items()},
            "best_epoch": result.best_epoch,
            "train": {
                "seconds": round(result.train_seconds, 2),
                "samples_per_s": round(result.samples_per_s, 2),
                "tokens_per_s": round(result.tokens_per_s, 1),
                "epochs_run": len(result.history),
                "device": result.device,
                "precision": result.precision,
                "processes": result.processes,
            },
            "model": {"parameters": count_parameters(model), "size_mb": round(size_mb, 3)},
            "cpu": dict(latency),
            "machine": machine(),
        }
        | calibration(result)
        | result.extra
    )


def calibration(result: FitResult) -> dict[str, Any]:
    """The temperature the test metrics were computed with, and what the metrics that it
    changes (loss, ECE) were without it; nothing for outputs that are not calibrated."""
    if result.temperature is None or result.uncalibrated_metrics is None:
        return {}
    raw = result.uncalibrated_metrics
    changed = {key: round(raw[key], 6) for key in ("loss", "ece") if key in raw}
    return {"calibration": {"temperature": round(result.temperature, 6), "uncalibrated": changed}}


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU model and count (latency is CPU), the CPU
    kernels' instruction set, GPU, torch."""
    import os
    import platform

    import torch

    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.is_file() else ""
    cpu = cpu_name(text) or platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {
        "cpu": cpu,
        "cpus": os.cpu_count() or 0,
        "kernels": cpu_kernels(torch.backends.cpu.get_cpu_capability(), os.environ),
        "gpu": gpu,
        "torch": torch.__version__,
    }


# Variables that cap the instruction set of torch's CPU kernels: ATen's vectorised ops
# (softmax, layer norm, reductions), oneDNN's (convolutions) and MKL's (BLAS). Capped, a CPU
# runs, and rounds, as one without the newer instructions would: a second machine's kernels
# on the first machine, e.g. `ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2` on an AVX-512 CPU.
KERNEL_CAPS = (
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "MKL_ENABLE_INSTRUCTIONS",
)


def cpu_kernels(capability: str, environ: Mapping[str, str]) -> str:
    """ATen's CPU ``capability`` ("AVX512", "AVX2", "DEFAULT"...) and the caps set in
    ``environ``, e.g. "AVX2 (ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2)": float results
    depend on the kernels as much as on the CPU, so a figure names both."""
    caps = [f"{name}={environ[name]}" for name in KERNEL_CAPS if environ.get(name)]
    return f"{capability} ({', '.join(caps)})" if caps else capability


# Instruction sets that decide how fast bf16 runs on a CPU (without them it is emulated).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CPU_IDS = (("cpu family", "family"), ("model", "model"))  # /proc/cpuinfo key, label


def cpu_name(cpuinfo: str) -> str:
    """The first CPU of a /proc/cpuinfo text, e.g. "AMD EPYC (family 25, model 17,
    avx512_bf16)"; "" when it names none. Virtual machines often report a bare "AMD EPYC" for
    different generations, whose timings and bf16 speed differ (and whose float kernels may
    round differently): the family, model and bf16 instructions tell them apart."""
    first = cpuinfo.split("\n\n", 1)[0]
    fields: dict[str, str] = {}
    for line in first.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name", "")
    if not name:
        return ""
    details = [f"{label} {fields[key]}" for key, label in CPU_IDS if key in fields]
    flags = set(fields.get("flags", "").split())
    details += [flag for flag in BF16_FLAGS if flag in flags]
    return f"{name} ({', '.join(details)})" if details else name


def write_curves(history: Sequence[EpochRecord], path: Path) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame([record.row() for record in history]).to_csv(tmp, index=False)


def write_confusion(result: FitResult, labels, classes: Sequence[str], path: Path) -> None:
    table = confusion_table(labels, result.test_logits.argmax(axis=1), classes)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def epoch_logger(run: StageRun) -> Callable[[EpochRecord], None]:
    """Log each epoch's curves to MLflow as it ends (steps = epochs)."""

    def log(record: EpochRecord) -> None:
        values = record.row()
        epoch = int(values.pop("epoch"))
        values["epoch_seconds"] = values.pop("seconds")
        run.log_metrics(values, step=epoch)

    return log


def checkpoint_dir(stage: str) -> Path:
    """Where a stage keeps its resumable checkpoints: outside DVC's outputs, which DVC may
    delete before a rerun, and git-ignored. Removed once the stage completes."""
    return Path(".cache") / "checkpoints" / stage.replace("@", "-")


def model_card(
    title: str, facts: Mapping[str, Any], metrics: Mapping[str, Any], smoke: bool
) -> str:
    """A short model card: what the model is, how it was trained, what it scored on test."""
    lines = [f"# {title}", ""]
    if smoke:
        lines += [
            "> Trained on the embedded **sample** data of the quick profile: its scores are smoke",
            "> figures that show the pipeline works, not results about the model.",
            "",
        ]
    lines += ["| | |", "|---|---|"] + [f"| {key} | {value} |" for key, value in facts.items()]
    test = metrics.get("test", {})
    lines += ["", "## Test metrics", "", "| metric | value |", "|---|---:|"]
    lines += [f"| {key} | {value:.4f} |" for key, value in test.items()]
    lines += [
        "",
        "Produced by the textdistill pipeline (`dvc repro`); reload with `textdistill predict`.",
    ]
    return "\n".join(lines) + "\n"

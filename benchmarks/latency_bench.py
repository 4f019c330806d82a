"""Single-text CPU latency of the students against their teacher, measured in one process.

Each model is loaded from its directory as `textdistill predict` loads it and classifies the
same test texts one at a time on one thread, tokenization included (`text_latency`, the figure
the stages write). Models take turns for several rounds and each model's figure is the median
over rounds, so load on a shared machine falls on all of them alike; the speed-up of a student
is the teacher's latency over its own. Each student is also timed through the tokenizer's
`__call__` (what predict ran before `TextEncoder`), to show what that path costs.

Run on any workspace with trained models (after `make repro`, or `dvc exp apply <exp>`):

    python benchmarks/latency_bench.py                               # teacher from params
    python benchmarks/latency_bench.py --teacher models/finetune/bert --out benchmarks/latency.json
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import torch

from textdistill.config import load_params
from textdistill.data.prepare import read_prepared
from textdistill.evaluate import cpu_latency_ms, text_latency
from textdistill.io import write_json
from textdistill.models.store import load_model
from textdistill.results import machine


@torch.inference_mode()
def tokenizer_call_latency(model, tokenizer, texts: list[str], max_length: int) -> float:
    """`text_latency` through `tokenizer(...)` instead of `TextEncoder`: the old path."""
    model = model.to("cpu").eval()

    def predict_one(i: int) -> None:
        encoded = tokenizer(texts[i], truncation=True, max_length=max_length, return_tensors="pt")
        model(encoded["input_ids"], encoded["attention_mask"])

    return cpu_latency_ms(predict_one, len(texts))["latency_ms"]


def measure(
    teacher_dir: Path, student_dirs: list[Path], texts: list[str], rounds: int
) -> dict[str, Any]:
    models = {path: load_model(path) for path in [teacher_dir, *student_dirs]}
    times: dict[str, list[float]] = {str(path): [] for path in models}
    calls: dict[str, list[float]] = {str(path): [] for path in student_dirs}
    for _ in range(rounds):  # models take turns, so a busy moment is shared
        for path, (model, spec, tokenizer) in models.items():
            latency = text_latency(model, tokenizer, texts, spec["max_length"])
            times[str(path)].append(latency["latency_ms"])
            if path != teacher_dir:
                calls[str(path)].append(
                    tokenizer_call_latency(model, tokenizer, texts, spec["max_length"])
                )
    teacher_ms = statistics.median(times[str(teacher_dir)])
    students = {}
    for path in student_dirs:
        ms, call_ms = statistics.median(times[str(path)]), statistics.median(calls[str(path)])
        students[str(path)] = {
            "latency_ms": round(ms, 4),
            "speedup_vs_teacher": round(teacher_ms / ms, 1),
            "tokenizer_call_latency_ms": round(call_ms, 4),
            "tokenizer_call_over_encoder": round(call_ms / ms, 2),
            "parameters": sum(p.numel() for p in models[path][0].parameters()),
        }
    return {
        "teacher": {
            "model": str(teacher_dir),
            "latency_ms": round(teacher_ms, 3),
            "parameters": sum(p.numel() for p in models[teacher_dir][0].parameters()),
        },
        "students": students,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, help="default: params' students.teacher")
    parser.add_argument("--students", type=Path, nargs="*", help="default: models/students/*")
    parser.add_argument("--data", type=Path, help="default: data/prepared/<teacher.dataset>")
    parser.add_argument("--texts", type=int, default=200, help="test texts per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/latency.json"))
    args = parser.parse_args()
    params = load_params()
    teacher = args.teacher or Path(params.students_config().teacher)
    students = args.students or sorted(p for p in Path("models/students").iterdir() if p.is_dir())
    data = args.data or Path("data/prepared") / params.teacher_config().dataset
    for path in [teacher, *students]:
        if not (path / "model.json").is_file():
            raise SystemExit(f"{path} has no model.json: run `make repro` (or dvc exp apply) first")
    _, splits = read_prepared(data)
    texts = splits["test"]["text"].tolist()[: args.texts]
    report = {
        "machine": machine(),
        "threads": 1,
        "texts": {"source": f"{data} (test split)", "count": len(texts)},
        "rounds": args.rounds,
        **measure(teacher, students, texts, args.rounds),
    }
    write_json(args.out, report)
    print(report)


if __name__ == "__main__":
    main()

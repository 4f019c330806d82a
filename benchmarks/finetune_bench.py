"""Fine-tuning throughput: textdistill's engine against the Hugging Face `Trainer`, in one run.

Same encoder, data, epochs, batch size, learning rate, seed and optimiser (Adam = AdamW with
no weight decay, fused, in both). Reported: train samples/s and tokens/s (real, unpadded
tokens), test accuracy, and the ratios. Also the engine in bf16 autocast against fp32 (on a
CPU without native bf16, expect it slower), and the `Trainer` with its length-grouped sampler,
to show where the engine's speed comes from.

    python benchmarks/finetune_bench.py                      # CPU, quick-profile data
    python benchmarks/finetune_bench.py --gpu --encoder models/pretrained/bert --max-length 128
    python benchmarks/finetune_bench.py --gpu --bert-base-shape   # throughput at the paper's size
    python benchmarks/finetune_bench.py --gpu --bert-base-shape --compile   # ... torch.compiled
    python benchmarks/finetune_bench.py --gpu --bert-base-shape --compile-pair  # eager vs compiled

`--bert-base-shape` trains a randomly initialised encoder of bert-base-uncased's shape (12 layers
of 768, the same WordPiece vocabulary) where the hub is out of reach: its speed is the real
model's, its accuracy means nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from textdistill.config import TrainConfig
from textdistill.data.prepare import read_prepared
from textdistill.evaluate import classification_metrics
from textdistill.finetune import finetune
from textdistill.io import write_json
from textdistill.losses import build_loss
from textdistill.results import machine
from textdistill.train import FitResult

# Peak dense bf16 tensor throughput (no sparsity), for the fraction-of-peak figure on GPUs.
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def benchmark_splits(args: argparse.Namespace, train_examples: int | None = None):
    """The prepared splits with validation and test pooled as the test set: with one epoch
    neither run selects on validation, and 600 held-out examples instead of the sample's 200
    bring the accuracy's standard error from ~2.5 to ~1.5 points."""
    classes, splits = read_prepared(args.data)
    held_out = pd.concat([splits["val"], splits["test"]], ignore_index=True)
    train = splits["train"] if train_examples is None else splits["train"].iloc[:train_examples]
    return classes, {"train": train, "val": splits["val"], "test": held_out}


def accuracy_stderr(accuracy: float, n: int) -> float:
    """Binomial standard error of an accuracy measured on n examples, in points."""
    return round(100 * math.sqrt(accuracy * (1 - accuracy) / n), 2)


def engine_run(
    args: argparse.Namespace,
    precision: str,
    train_examples: int | None = None,
    epochs: int | None = None,
    compiled: bool | None = None,
) -> dict[str, Any]:
    classes, splits = benchmark_splits(args, train_examples)
    config = TrainConfig(
        epochs=epochs or args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer="adamw",
        clip_norm=None,
        max_length=args.max_length,
        eval_batch_size=64,
        device=args.device,
        precision=precision,
        compile=args.compile if compiled is None else compiled,
    )
    tuned = finetune(args.encoder, classes, splits, config, build_loss("ce"), args.seed)
    result = tuned.result
    accuracy = result.test_metrics["accuracy"]
    return {
        "train_examples": len(splits["train"]),
        "train_seconds": round(result.train_seconds, 2),
        "samples_per_s": round(result.samples_per_s, 2),
        "tokens_per_s": round(result.tokens_per_s, 1),
        "epoch_seconds": [round(record.seconds, 3) for record in result.history],
        "steady_tokens_per_s": steady_tokens_per_s(result),
        "test_accuracy": round(accuracy, 4),
        "test_accuracy_stderr_points": accuracy_stderr(accuracy, len(splits["test"])),
        "precision": result.precision,
        "parameters": sum(p.numel() for p in tuned.classifier.parameters()),
        "non_embedding_parameters": non_embedding_parameters(tuned.classifier),
        "train_tokens": result.train_tokens,
    }


def steady_tokens_per_s(result: FitResult) -> float | None:
    """Tokens/s over the epochs after the first (median epoch time), which alone pays for
    start-up and compilation; None with a single epoch. Every epoch sees the same tokens."""
    seconds = [record.seconds for record in result.history[1:]]
    if not seconds:
        return None
    return round(result.train_tokens / len(result.history) / statistics.median(seconds), 1)


def trainer_run(args: argparse.Namespace, sampling: str) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    classes, splits = benchmark_splits(args)
    tokenizer = AutoTokenizer.from_pretrained(args.encoder)

    def dataset(name: str) -> Dataset:
        frame = splits[name]
        encoded = tokenizer(frame["text"].tolist(), truncation=True, max_length=args.max_length)
        return Dataset.from_dict({**encoded, "labels": frame["label"].tolist()})

    train, test = dataset("train"), dataset("test")
    torch.manual_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        args.encoder, num_labels=len(classes)
    )
    with tempfile.TemporaryDirectory() as out:
        training = TrainingArguments(
            output_dir=out,
            num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=64,
            learning_rate=args.lr,
            weight_decay=0.0,
            lr_scheduler_type="constant",
            max_grad_norm=0.0,
            seed=args.seed,
            save_strategy="no",
            eval_strategy="no",
            report_to=[],
            logging_strategy="no",
            disable_tqdm=True,
            bf16=args.device == "cuda",
            use_cpu=args.device == "cpu",
            dataloader_num_workers=0,
            train_sampling_strategy=sampling,
            torch_compile=args.compile,
        )
        trainer = Trainer(
            model=model,
            args=training,
            train_dataset=train,
            data_collator=DataCollatorWithPadding(tokenizer),
        )
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        logits = trainer.predict(test).predictions
    labels = np.asarray(test["labels"])
    accuracy = classification_metrics(np.asarray(logits, dtype=np.float32), labels, len(classes))[
        "accuracy"
    ]
    samples = len(train) * args.epochs
    tokens = sum(len(ids) for ids in train["input_ids"]) * args.epochs
    return {
        "train_examples": len(train),
        "train_seconds": round(seconds, 2),
        "samples_per_s": round(samples / seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        "test_accuracy": round(float(accuracy), 4),
        "test_accuracy_stderr_points": accuracy_stderr(float(accuracy), len(labels)),
        "sampling": sampling,
    }


def non_embedding_parameters(model: torch.nn.Module) -> int:
    """Parameters that do matrix products per token (embedding tables are only looked up)."""
    embedded = {
        id(p)
        for module in model.modules()
        if isinstance(module, torch.nn.Embedding)
        for p in module.parameters()
    }
    return sum(p.numel() for p in model.parameters() if id(p) not in embedded)


def run_tokens_per_s(run: dict[str, Any]) -> float:
    """A run's steady tokens/s (after the first epoch), or its overall figure with one epoch."""
    return run["steady_tokens_per_s"] or run["tokens_per_s"]


def gpu_fraction_of_peak(run: dict[str, Any]) -> float | None:
    """Training FLOPs ~ 6 x non-embedding parameters x tokens (Kaplan et al. 2020; attention
    scores left out, a few % at 128 tokens), over the GPU's dense bf16 peak; at the steady
    throughput (after the first epoch) where there is one."""
    name = torch.cuda.get_device_name(0)
    peak = next((tflops for key, tflops in PEAK_BF16_TFLOPS.items() if key in name), None)
    if peak is None:
        return None
    achieved = 6 * run["non_embedding_parameters"] * run_tokens_per_s(run) / 1e12
    return round(achieved / peak, 4)


def bert_base_shaped(tokenizer_dir: Path, out_dir: Path) -> Path:
    """A randomly initialised encoder of bert-base-uncased's shape with the tokenizer of
    `tokenizer_dir` (the same uncased WordPiece vocabulary): for throughput only."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    BertModel(BertConfig()).save_pretrained(out_dir)  # BertConfig()'s defaults: bert-base
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(out_dir)
    return out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/prepared/amazon"))
    parser.add_argument("--encoder", type=Path, default=Path("models/pretrained/distilbert"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--gpu", action="store_true", help="run on CUDA in bf16")
    parser.add_argument(
        "--bert-base-shape", action="store_true", help="random weights of bert-base's shape"
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the model, in the engine and Trainer"
    )
    parser.add_argument(
        "--compile-pair",
        action="store_true",
        help="only the engine, eager then torch.compiled (no Trainer, no fp32 peer)",
    )
    parser.add_argument(
        "--precision-examples",
        type=int,
        default=None,
        help="compare bf16 and fp32 on this many training examples (default: all)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/finetune.json"))
    args = parser.parse_args()
    args.device = "cuda" if args.gpu else "cpu"
    with tempfile.TemporaryDirectory() as scratch:
        if args.bert_base_shape:
            args.encoder = bert_base_shaped(args.encoder, Path(scratch) / "bert-base-shape")
        runs = all_runs(args)
    report = {
        "config": {k: str(v) for k, v in vars(args).items()},
        "machine": machine() | {"cpu_threads": torch.get_num_threads()},
        "runs": runs,
        "summary": summarize(runs, args),
    }
    write_json(args.out, report)
    print(f"{'run':<18}{'samples/s':>11}{'tokens/s':>11}{'test acc':>10}")
    for name, run in runs.items():
        print(
            f"{name:<18}{run['samples_per_s']:>11.2f}{run['tokens_per_s']:>11.1f}{run['test_accuracy']:>10.4f}"
        )
    print(json.dumps(report["summary"], indent=2))


def all_runs(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The engine in its `auto` precision (bf16 on a GPU, fp32 on CPU) and in the other one,
    and the Trainer (same precision as the engine's `auto`) with both of its samplers. With
    `--compile-pair`, the engine alone, eager then compiled: what compilation buys, where a
    compiled Trainer and fp32 peer would spend minutes compiling (their first epoch, which the
    steady throughput leaves out, pays for it)."""
    if args.compile_pair:
        return {name: engine_run(args, "auto", compiled=c) for name, c in COMPILE_PAIR.items()}
    if args.gpu:  # CUDA's lazy start-up (context, kernel loading, cuBLAS) timed in no run
        for precision in ("bf16", "fp32"):
            engine_run(args, precision, train_examples=4 * args.batch_size, epochs=1)
    runs = {"engine": engine_run(args, "bf16" if args.gpu else "fp32")}
    runs["trainer"] = trainer_run(args, "random")
    runs["trainer_grouped"] = trainer_run(args, "group_by_length")
    for name, precision in zip(precision_pair(args), ("bf16", "fp32"), strict=True):
        if name not in runs:
            runs[name] = engine_run(args, precision, args.precision_examples)
    return runs


COMPILE_PAIR = {"engine": False, "engine_compiled": True}


def compile_summary(runs: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Compiled over eager at the steady throughput, and each one's fraction of the bf16 peak."""
    eager, compiled = (runs[name] for name in COMPILE_PAIR)
    summary: dict[str, Any] = {
        "compiled_over_eager_speed": round(run_tokens_per_s(compiled) / run_tokens_per_s(eager), 3),
        "compiled_minus_eager_accuracy_points": round(
            100 * (compiled["test_accuracy"] - eager["test_accuracy"]), 2
        ),
    }
    if args.gpu:
        summary["gpu_fraction_of_peak_bf16"] = gpu_fraction_of_peak(eager)
        summary["compiled_gpu_fraction_of_peak_bf16"] = gpu_fraction_of_peak(compiled)
    return summary


def precision_pair(args: argparse.Namespace) -> tuple[str, str]:
    """Names of the bf16 and fp32 engine runs compared, trained on the same examples: both on
    the first `--precision-examples` (CPU bf16 is slow), or the `engine` run and its peer."""
    if args.precision_examples:
        return "engine_bf16_subset", "engine_fp32_subset"
    return ("engine", "engine_fp32") if args.gpu else ("engine_bf16", "engine")


def summarize(runs: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    if args.compile_pair:
        return compile_summary(runs, args)
    engine, trainer = runs["engine"], runs["trainer"]
    summary = {
        "speedup_vs_trainer": round(engine["samples_per_s"] / trainer["samples_per_s"], 3),
        "speedup_vs_trainer_grouped": round(
            engine["samples_per_s"] / runs["trainer_grouped"]["samples_per_s"], 3
        ),
        "accuracy_gap_points": round(100 * (engine["test_accuracy"] - trainer["test_accuracy"]), 2),
    }
    summary["precision_runs"] = precision_pair(args)
    bf16, fp32 = (runs[name] for name in summary["precision_runs"])
    summary["bf16_over_fp32_speed"] = round(bf16["samples_per_s"] / fp32["samples_per_s"], 3)
    summary["bf16_minus_fp32_accuracy_points"] = round(
        100 * (bf16["test_accuracy"] - fp32["test_accuracy"]), 2
    )
    if args.gpu:
        summary["gpu_fraction_of_peak_bf16"] = gpu_fraction_of_peak(engine)
    return summary


if __name__ == "__main__":
    main()

"""Fine-tuning throughput: textdistill's engine against the Hugging Face `Trainer`, in one run.

Same encoder, data, epochs, batch size, learning rate, seed and optimiser (Adam = AdamW with
no weight decay, fused, in both). Reported: train samples/s and tokens/s (real, unpadded
tokens), test accuracy, and the ratios. Also the engine in bf16 autocast against fp32 (on a
CPU without native bf16, expect it slower), and the `Trainer` with its length-grouped sampler,
to show where the engine's speed comes from.

    python benchmarks/finetune_bench.py                      # CPU, quick-profile data
    python benchmarks/finetune_bench.py --gpu --encoder models/pretrained/bert --max-length 128
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textdistill.config import TrainConfig
from textdistill.data.prepare import read_prepared
from textdistill.evaluate import classification_metrics
from textdistill.finetune import finetune
from textdistill.io import write_json
from textdistill.losses import build_loss

# Peak dense bf16 tensor throughput (no sparsity), for the fraction-of-peak figure on GPUs.
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def engine_run(args: argparse.Namespace, precision: str) -> dict[str, Any]:
    classes, splits = read_prepared(args.data)
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer="adamw",
        clip_norm=None,
        max_length=args.max_length,
        eval_batch_size=64,
        device=args.device,
        precision=precision,
    )
    tuned = finetune(args.encoder, classes, splits, config, build_loss("ce"), args.seed)
    result = tuned.result
    return {
        "train_seconds": round(result.train_seconds, 2),
        "samples_per_s": round(result.samples_per_s, 2),
        "tokens_per_s": round(result.tokens_per_s, 1),
        "test_accuracy": round(result.test_metrics["accuracy"], 4),
        "precision": result.precision,
        "parameters": sum(p.numel() for p in tuned.classifier.parameters()),
        "train_tokens": result.train_tokens,
    }


def trainer_run(args: argparse.Namespace, sampling: str) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    classes, splits = read_prepared(args.data)
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
        "train_seconds": round(seconds, 2),
        "samples_per_s": round(samples / seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        "test_accuracy": round(float(accuracy), 4),
        "sampling": sampling,
    }


def gpu_fraction_of_peak(run: dict[str, Any]) -> float | None:
    """Training FLOPs ~ 6 x parameters x tokens (Kaplan et al. 2020), over the bf16 peak."""
    name = torch.cuda.get_device_name(0)
    peak = next((tflops for key, tflops in PEAK_BF16_TFLOPS.items() if key in name), None)
    if peak is None:
        return None
    achieved = 6 * run["parameters"] * run["tokens_per_s"] / 1e12
    return round(achieved / peak, 4)


def machine() -> dict[str, Any]:
    info = {
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


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
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/finetune.json"))
    args = parser.parse_args()
    args.device = "cuda" if args.gpu else "cpu"

    runs = {"engine": engine_run(args, "bf16" if args.gpu else "fp32")}
    runs["trainer"] = trainer_run(args, "random")
    runs["trainer_grouped"] = trainer_run(args, "group_by_length")
    if not args.gpu:
        runs["engine_bf16"] = engine_run(args, "bf16")
    engine, trainer = runs["engine"], runs["trainer"]
    summary = {
        "speedup_vs_trainer": round(engine["samples_per_s"] / trainer["samples_per_s"], 3),
        "speedup_vs_trainer_grouped": round(
            engine["samples_per_s"] / runs["trainer_grouped"]["samples_per_s"], 3
        ),
        "accuracy_gap_points": round(100 * (engine["test_accuracy"] - trainer["test_accuracy"]), 2),
    }
    if "engine_bf16" in runs:
        summary["cpu_bf16_over_fp32_speed"] = round(
            runs["engine_bf16"]["samples_per_s"] / engine["samples_per_s"], 3
        )
    if args.gpu:
        summary["gpu_fraction_of_peak_bf16"] = gpu_fraction_of_peak(engine)
    report = {
        "config": {k: str(v) for k, v in vars(args).items()},
        "machine": machine(),
        "runs": runs,
        "summary": summary,
    }
    write_json(args.out, report)
    print(f"{'run':<18}{'samples/s':>11}{'tokens/s':>11}{'test acc':>10}")
    for name, run in runs.items():
        print(
            f"{name:<18}{run['samples_per_s']:>11.2f}{run['tokens_per_s']:>11.1f}{run['test_accuracy']:>10.4f}"
        )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

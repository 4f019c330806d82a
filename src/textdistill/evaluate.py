"""Classification metrics, calibration, confusion matrices, size on disk and CPU latency."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ECE_BINS = 15


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE (Guo et al. 2017): sum_b |B_b|/N * |accuracy(B_b) - confidence(B_b)| over equal-width bins."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)


def macro_f1(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> float:
    """Unweighted mean over the classes of F1 = 2 TP / (2 TP + FP + FN); a class with no true
    and no predicted example scores 0 (scikit-learn's f1_score(average="macro") with its
    default zero_division). In numpy: scikit-learn costs ~2 s of import in every stage."""
    pairs = np.bincount(labels * num_classes + predictions, minlength=num_classes**2)
    confusion = pairs.reshape(num_classes, num_classes)  # rows: actual, columns: predicted
    true_positive = np.diag(confusion).astype(np.float64)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)  # 2 TP + FP + FN
    scores = np.divide(
        2 * true_positive, denominator, out=np.zeros(num_classes), where=denominator > 0
    )
    return float(scores.mean())


def classification_metrics(
    logits: np.ndarray, labels: np.ndarray, num_classes: int
) -> dict[str, float]:
    """Accuracy, macro-F1, cross-entropy loss and ECE of one split's logits."""
    predictions = logits.argmax(axis=1)
    return {
        "accuracy": float((predictions == labels).mean()),
        "macro_f1": macro_f1(labels, predictions, num_classes),
        "loss": cross_entropy(logits, labels),
        "ece": expected_calibration_error(softmax(logits), labels),
    }


def confusion_table(
    labels: np.ndarray, predictions: np.ndarray, classes: Sequence[str]
) -> pd.DataFrame:
    """One row per example (actual, predicted), the layout of DVC's `confusion` plot template."""
    names = np.asarray(classes)
    return pd.DataFrame({"actual": names[labels], "predicted": names[predictions]})


def directory_size_mb(path: Path, patterns: Sequence[str] = ("*.safetensors", "*.pt")) -> float:
    """Size of the weight files under `path`, in MB (what a user ships)."""
    total = sum(f.stat().st_size for pattern in patterns for f in Path(path).rglob(pattern))
    return round(total / 1e6, 3)


def cpu_latency_ms(
    predict_one: Callable[[int], object], examples: int, warmup: int = 3, threads: int | None = 1
) -> dict[str, float]:
    """Median and p90 latency of classifying one example at a time, on CPU, in milliseconds.

    `predict_one(i)` classifies example i. One thread by default: the figure a single-request
    server sees, and stable on a shared machine.
    """
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        for i in range(warmup):
            predict_one(i % examples)
        times = []
        for i in range(examples):
            start = time.perf_counter()
            predict_one(i)
            times.append((time.perf_counter() - start) * 1000)
    finally:
        torch.set_num_threads(previous)
    median = float(np.median(times))
    return {
        "latency_ms": round(median, 3),
        "latency_p90_ms": round(float(np.percentile(times, 90)), 3),
        "examples_per_s": round(1000.0 / median, 1),
    }


@torch.inference_mode()
def text_latency(
    model: torch.nn.Module, tokenizer, texts: Sequence[str], max_length: int
) -> dict[str, float]:
    """CPU latency of classifying one raw text, tokenization included, batch size 1.

    `model` is any project model called as `model(input_ids, attention_mask)`.
    """
    model = model.to("cpu").eval()

    def predict_one(i: int) -> None:
        encoded = tokenizer(texts[i], truncation=True, max_length=max_length, return_tensors="pt")
        model(encoded["input_ids"], encoded["attention_mask"])

    return cpu_latency_ms(predict_one, len(texts))

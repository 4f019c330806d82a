"""Classification and regression metrics, calibration, confusion matrices, size on disk and CPU
latency."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from textdistill.data.batching import TextEncoder

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


# Calibration temperatures searched: logits up to 20 times too sharp or too flat are mended.
# The bound keeps a validation split the model gets all right (loss falls forever as T -> 0)
# from making every later prediction certain.
TEMPERATURE_RANGE = (0.05, 20.0)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, steps: int = 80) -> float:
    """Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): the
    T > 0 minimising the cross-entropy of softmax(logits / T) on held-out labels.

    One scalar, so the predicted class never changes, only how sure the model says it is: a
    DIST student (its loss ignores the logits' scale) or an over-confident fine-tune gets
    probabilities that mean what they say. The cross-entropy is convex in 1/T, hence
    unimodal in log T: a golden-section search over log T within TEMPERATURE_RANGE.
    """
    logits = np.asarray(logits, dtype=np.float64)
    low, high = np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1])

    def loss(log_t: float) -> float:
        return cross_entropy(logits / np.exp(log_t), labels)

    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = low + (1 - ratio) * (high - low), low + ratio * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(steps):  # each step keeps 0.618 of the bracket: 80 steps leave ~1e-16
        if loss_a <= loss_b:
            high, b, loss_b = b, a, loss_a
            a = low + (1 - ratio) * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + ratio * (high - low)
            loss_b = loss(b)
    return float(np.exp((low + high) / 2))


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


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values`, tied values sharing the mean of their ranks (the "fractional"
    ranking Spearman's coefficient uses): [10, 20, 20, 30] -> [1, 2.5, 2.5, 4]."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # the last rank of each distinct value
    return ((ends - counts + 1 + ends) / 2.0)[inverse.reshape(-1)]


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r = sum (x - mean x)(y - mean y) / sqrt(sum (x - mean x)^2 sum (y - mean y)^2);
    0.0 when either side is constant (r is undefined there: 0/0)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.ptp(x) == 0 or np.ptp(y) == 0:  # not `norm == 0`: a mean's rounding is not 0
        return 0.0
    dx, dy = x - x.mean(), y - y.mean()
    r = float(np.dot(dx, dy) / np.sqrt(np.dot(dx, dx) * np.dot(dy, dy)))
    return min(1.0, max(-1.0, r))  # rounding may step just past +-1


def regression_metrics(predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Pearson's r, Spearman's rho, MAE, MSE (also as `loss`, the MSE loss's value) and RMSE of
    one split's predictions of a float target (the STS benchmark's measures: Pearson, Spearman).

    Spearman's rho is Pearson's r of the average ranks (ties share the mean of their ranks, as
    `scipy.stats.spearmanr`). Both correlations are 0.0, not NaN, where they are undefined: for
    constant predictions or targets (an untrained head often predicts one value), and for
    predictions with a NaN or infinity (a diverged model; its MSE and MAE show it). The engine
    picks the best epoch by comparing scores, and NaN compares false with everything.
    `predictions` is (N,) or (N, 1); `targets` (N,), finite. Computed in float64.
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if predictions.ndim == 2 and predictions.shape[1] == 1:
        predictions = predictions[:, 0]
    if predictions.ndim != 1 or targets.shape != predictions.shape:
        raise ValueError(
            f"predictions must be (N,) or (N, 1) and targets (N,), got {predictions.shape} "
            f"and {targets.shape}"
        )
    if len(targets) == 0:
        raise ValueError("regression metrics need at least one example")
    if not np.isfinite(targets).all():
        raise ValueError("regression targets must be finite numbers, got NaN or infinity")
    errors = predictions - targets
    mse = float(np.mean(errors**2))
    finite = bool(np.isfinite(predictions).all())
    return {
        "pearson": pearson(predictions, targets) if finite else 0.0,
        "spearman": pearson(average_ranks(predictions), average_ranks(targets)) if finite else 0.0,
        "mae": float(np.mean(np.abs(errors))),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "loss": mse,
    }


def confusion_table(
    labels: np.ndarray, predictions: np.ndarray, classes: Sequence[str]
) -> pd.DataFrame:
    """One row per example (actual, predicted), the layout of DVC's `confusion` plot template."""
    names = np.asarray(classes)
    return pd.DataFrame({"actual": names[labels], "predicted": names[predictions]})


def count_parameters(model: torch.nn.Module) -> int:
    """Number of parameters (tied weights counted once: `parameters()` yields them once)."""
    return sum(p.numel() for p in model.parameters())


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
    encode = TextEncoder(tokenizer, max_length)  # what `textdistill predict` runs

    def predict_one(i: int) -> None:
        model(*encode([texts[i]]))

    return cpu_latency_ms(predict_one, len(texts))

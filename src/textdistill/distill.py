"""The distillation branch: a VDCNN teacher on cached encoder features, and small students
trained on cached teacher logits. Neither ever runs the encoder or the teacher per step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from textdistill.config import TrainConfig
from textdistill.data.batching import Encoded
from textdistill.data.split import SPLITS
from textdistill.features import load_features
from textdistill.io import atomic_dir
from textdistill.losses import Loss
from textdistill.models.store import build_model
from textdistill.train import FitResult, Trainer

TEACHER_INPUTS = ("features", "attention_mask")
STUDENT_INPUTS = ("input_ids", "attention_mask")
# KD mode of a student -> the loss it trains with (`none` is the plain student).
KD_LOSSES = {"none": "ce", "kd": "kd", "dist": "dist"}


@dataclass
class Trained:
    model: nn.Module
    spec: dict[str, Any]
    result: FitResult
    data: dict[str, Encoded]


def train_teacher(
    features_dir: Path,
    vdcnn: dict[str, Any],
    config: TrainConfig,
    loss: Loss,
    seed: int,
    **options: Any,
) -> Trained:
    """Train the VDCNN head on the frozen encoder's cached hidden states."""
    meta, data = load_features(features_dir)
    spec = {
        "kind": "teacher",
        "arch": "vdcnn",
        "params": vdcnn,
        "classes": meta["classes"],
        "hidden_size": meta["hidden_size"],
        "max_length": meta["max_length"],
        "encoder": meta["encoder"],
    }
    torch.manual_seed(seed)
    model = build_model(spec)
    trainer = Trainer(model, loss, config, inputs=TEACHER_INPUTS, seed=seed, **options)
    result = trainer.fit(data["train"], data["val"], data["test"])
    return Trained(model, spec, result, data)


def teacher_logits(trained: Trained, config: TrainConfig) -> dict[str, np.ndarray]:
    """The trained teacher's logits on every split, for the students to learn from."""
    trainer = Trainer(trained.model, _NoLoss(), config, inputs=TEACHER_INPUTS)
    return {name: trainer.predict(trained.data[name]) for name in SPLITS}


def write_logits(logits: dict[str, np.ndarray], out_dir: Path) -> None:
    with atomic_dir(out_dir) as tmp:
        for name, values in logits.items():
            np.save(tmp / f"{name}.npy", values.astype(np.float32))


def read_logits(logits_dir: Path) -> dict[str, np.ndarray]:
    return {name: np.load(logits_dir / f"{name}.npy") for name in SPLITS}


def train_student(
    features_dir: Path,
    logits_dir: Path,
    arch: str,
    params: dict[str, Any],
    config: TrainConfig,
    loss: Loss,
    seed: int,
    **options: Any,
) -> Trained:
    """Train a student on the teacher's WordPiece ids; KD losses read the cached logits."""
    meta, data = load_features(features_dir, with_features=False)
    logits = read_logits(logits_dir)
    for name in SPLITS:
        if len(logits[name]) != len(data[name]):
            raise ValueError(
                f"{logits_dir}/{name}.npy has {len(logits[name])} rows, the data {len(data[name])}"
            )
        data[name].extras["teacher_logits"] = logits[name]
    spec = {
        "kind": "student",
        "arch": arch,
        "params": params,
        "classes": meta["classes"],
        "max_length": meta["max_length"],
    }
    torch.manual_seed(seed)
    model = build_model(spec)
    trainer = Trainer(model, loss, config, inputs=STUDENT_INPUTS, seed=seed, **options)
    result = trainer.fit(data["train"], data["val"], data["test"])
    agreement = float((result.test_logits.argmax(1) == logits["test"].argmax(1)).mean())
    result.extra["teacher_agreement"] = round(agreement, 6)
    return Trained(model, spec, result, data)


class _NoLoss(Loss):
    """Placeholder for a Trainer used only to predict."""

    def forward(self, logits, labels, teacher_logits=None):  # pragma: no cover - never trains
        raise RuntimeError("prediction-only trainer")

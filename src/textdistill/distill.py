"""The distillation branch: a VDCNN teacher on cached encoder features, and small students
trained on cached teacher logits. Neither ever runs the encoder or the teacher per step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from textdistill.config import (
    Params,
    StudentsConfig,
    TeacherConfig,
    TrainConfig,
    build_named_loss,
)
from textdistill.data.batching import Encoded
from textdistill.data.prepare import read_prepared
from textdistill.data.split import SPLITS
from textdistill.features import META, load_features
from textdistill.io import atomic_dir, read_json
from textdistill.lifecycle import DataRef, Fitted, Runnable, describe_training, model_size_mb
from textdistill.losses import Loss
from textdistill.models.embeddings import init_student_embedding
from textdistill.models.store import build_model, load_model, save_model
from textdistill.train import FitResult, Trainer, predict_logits, resolve_device, resolve_precision

TEACHER_INPUTS = ("features", "attention_mask")
STUDENT_INPUTS = ("input_ids", "attention_mask")


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
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    return {
        name: predict_logits(
            trained.model,
            trained.data[name],
            TEACHER_INPUTS,
            config.eval_batch_size,
            device,
            precision,
        )
        for name in SPLITS
    }


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
    # embedding_init: teacher_pca starts from the encoder's word embeddings (PCA to the width).
    init_student_embedding(model, Path(meta["encoder"]))
    trainer = Trainer(model, loss, config, inputs=STUDENT_INPUTS, seed=seed, **options)
    result = trainer.fit(data["train"], data["val"], data["test"])
    agreement = float((result.test_logits.argmax(1) == logits["test"].argmax(1)).mean())
    result.extra["teacher_agreement"] = round(agreement, 6)
    return Trained(model, spec, result, data)


# --- the teacher and student stages, for `lifecycle.run_training_stage` --------------------


@dataclass
class TeacherJob:
    """`teacher`: the VDCNN on cached encoder features; its logits are an extra output."""

    features_dir: Path
    config: TeacherConfig
    seed: int
    data: DataRef  # the prepared dataset (its test texts time the latency)
    stage: str = "teacher"
    title: str = "BERT-VDCNN teacher"
    log_model: bool = False  # it needs its encoder directory to run: reload with `predict`
    _trained: Trained | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_params(cls, params: Params, features_dir: Path, data_dir: Path) -> TeacherJob:
        config = params.teacher_config()
        return cls(
            features_dir=features_dir,
            config=config,
            seed=params.seed,
            data=DataRef.from_params(params, config.dataset, data_dir),
        )

    @property
    def params(self) -> dict[str, Any]:
        return {"seed": self.seed} | self.config.model_dump()

    @property
    def inputs(self) -> list[Path]:
        return [self.features_dir]

    def fit(self, **trainer_options: Any) -> Fitted:
        loss = build_named_loss("ce", {}, "teacher")
        trained = train_teacher(
            self.features_dir,
            self.config.vdcnn,
            self.config.train,
            loss,
            self.seed,
            **trainer_options,
        )
        self._trained = trained
        return _fitted(trained, AutoTokenizer.from_pretrained(trained.spec["encoder"]))

    def save(self, fitted: Fitted, model_dir: Path, extra: Mapping[str, Path]) -> None:
        assert self._trained is not None
        write_logits(teacher_logits(self._trained, self.config.train), extra["logits"])
        spec = self._trained.spec | {"clean": self.data.clean}  # predict cleans as training did
        save_model(fitted.model, spec, fitted.tokenizer, model_dir)

    def runnable(self, fitted: Fitted, model_dir: Path) -> Runnable:
        pipeline, spec, tokenizer = load_model(model_dir)  # encoder + VDCNN, as a user runs it
        size = model_size_mb(model_dir, Path(spec["encoder"]))
        return Runnable(pipeline, tokenizer, self.config.max_length, size)

    def latency_texts(self) -> list[str]:
        return _test_texts(self.data.prepared, self.config.latency_examples)

    def facts(self, fitted: Fitted, scores: Mapping[str, Any]) -> dict[str, Any]:
        assert self._trained is not None
        return {
            "task": f"{self.config.dataset} ({', '.join(fitted.classes)})",
            "architecture": f"frozen {self._trained.spec['encoder']} + VDCNN {self.config.vdcnn}",
            "training": describe_training(self.config.train),
            "best epoch (on validation)": fitted.result.best_epoch,
        }


@dataclass
class StudentJob:
    """`student@<arch>-<kd>`: a small student, plain or distilled from the cached logits."""

    arch: str
    kd_mode: str
    features_dir: Path  # the teacher's WordPiece ids
    logits_dir: Path
    model_params: dict[str, Any]
    kd_weights: dict[str, Any]
    loss: Loss
    config: StudentsConfig
    seed: int
    data: DataRef  # the prepared dataset (its test texts time the latency)
    log_model: bool = True
    _spec: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_params(
        cls,
        params: Params,
        arch: str,
        kd_mode: str,
        *,
        features_dir: Path,
        logits_dir: Path,
        data_dir: Path,
    ) -> StudentJob:
        config = params.students_config()
        dataset = params.teacher_config().dataset  # students learn the teacher's task
        return cls(
            arch=arch,
            kd_mode=kd_mode,
            features_dir=features_dir,
            logits_dir=logits_dir,
            model_params=config.model_params(arch),
            kd_weights=params.kd_weights(kd_mode),
            loss=params.kd_loss(kd_mode),
            config=config,
            seed=params.seed if config.seed is None else config.seed,
            data=DataRef.from_params(params, dataset, data_dir),
        )

    @property
    def stage(self) -> str:
        return f"student@{self.arch}-{self.kd_mode}"

    @property
    def title(self) -> str:
        return f"Student {self.arch}, KD {self.kd_mode}"

    @property
    def params(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "arch": self.arch,
            "kd_mode": self.kd_mode,
            "kd": self.kd_weights,
            "model": self.model_params,
            "train": self.config.train.model_dump(),
        }

    @property
    def inputs(self) -> list[Path]:
        return [self.features_dir / META, self.logits_dir]

    def fit(self, **trainer_options: Any) -> Fitted:
        trained = train_student(
            self.features_dir,
            self.logits_dir,
            self.arch,
            self.model_params,
            self.config.train,
            self.loss,
            self.seed,
            **trainer_options,
        )
        self._spec = trained.spec | {"clean": self.data.clean}  # predict cleans as training did
        encoder = read_json(self.features_dir / META)["encoder"]
        return _fitted(trained, AutoTokenizer.from_pretrained(encoder))

    def save(self, fitted: Fitted, model_dir: Path, extra: Mapping[str, Path]) -> None:
        save_model(fitted.model, self._spec, fitted.tokenizer, model_dir)

    def runnable(self, fitted: Fitted, model_dir: Path) -> Runnable:
        size = model_size_mb(model_dir)
        return Runnable(fitted.model, fitted.tokenizer, self._spec["max_length"], size)

    def latency_texts(self) -> list[str]:
        return _test_texts(self.data.prepared, self.config.latency_examples)

    def facts(self, fitted: Fitted, scores: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "architecture": f"{self.arch} {self.model_params}",
            "distillation": f"{self.kd_mode} {self.kd_weights}",
            "training": describe_training(self.config.train),
            "best epoch (on validation)": fitted.result.best_epoch,
            "agreement with the teacher (test)": scores["teacher_agreement"],
        }


def _fitted(trained: Trained, tokenizer: PreTrainedTokenizerBase) -> Fitted:
    test = trained.data["test"]
    return Fitted(trained.model, trained.result, test.labels, trained.spec["classes"], tokenizer)


def _test_texts(data_dir: Path, count: int) -> list[str]:
    _, splits = read_prepared(data_dir)
    return splits["test"]["text"].tolist()[:count]

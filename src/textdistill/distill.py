"""The distillation branch: a VDCNN teacher on cached encoder features, and small students
trained on cached teacher logits. Neither ever runs the encoder or the teacher per step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from transformers import AutoTokenizer

from textdistill.config import (
    Params,
    StudentsConfig,
    TeacherConfig,
    TrainConfig,
    build_named_loss,
)
from textdistill.data.batching import Encoded
from textdistill.data.prepare import read_prepared
from textdistill.errors import TextdistillError
from textdistill.features import load_features
from textdistill.io import read_json
from textdistill.lifecycle import DataRef, Fitted, Runnable, describe_training, model_size_mb
from textdistill.losses import Loss
from textdistill.models.embeddings import init_student_embedding
from textdistill.models.store import build_model, load_model, save_model
from textdistill.teaching import META, STUDENT_SPLITS, load_students_data, read_logits
from textdistill.train import FitResult, Trainer

if TYPE_CHECKING:  # importing these costs seconds at start-up (transformers' model machinery)
    from transformers import PreTrainedTokenizerBase


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


def train_student(
    transfer_dir: Path,
    logits_dir: Path,
    arch: str,
    params: dict[str, Any],
    config: TrainConfig,
    loss: Loss,
    seed: int,
    **options: Any,
) -> Trained:
    """Train a student on the teacher's WordPiece ids. A distilled one trains on the whole
    transfer set with the teacher's cached logits (its CE term on the labelled rows only); a
    plain one on the labelled rows alone, which are exactly the train split."""
    meta, data = load_students_data(transfer_dir)
    logits = read_logits(logits_dir)
    for name in STUDENT_SPLITS:
        if len(logits[name]) != len(data[name]):
            raise TextdistillError(
                f"{logits_dir}/{name}.npy has {len(logits[name])} rows, {transfer_dir} "
                f"{len(data[name])}: rerun the teacher_logits stage"
            )
        data[name].extras["teacher_logits"] = logits[name]
    train = data["transfer"]
    if not loss.accepts_unlabelled:
        train = train.subset(np.flatnonzero(train.labels >= 0))
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
    result = trainer.fit(train, data["val"], data["test"])
    agreement = float((result.test_logits.argmax(1) == logits["test"].argmax(1)).mean())
    result.extra["teacher_agreement"] = round(agreement, 6)
    result.extra["train_rows"] = len(train)
    return Trained(model, spec, result, data)


# --- the teacher and student stages, for `lifecycle.run_training_stage` --------------------


@dataclass
class TeacherJob:
    """`teacher`: the VDCNN on cached encoder features."""

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
    def device(self) -> str:
        return self.config.train.device

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

    def save(self, fitted: Fitted, model_dir: Path) -> None:
        assert self._trained is not None
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
    transfer_dir: Path  # the transfer set, in the teacher encoder's WordPiece ids
    logits_dir: Path  # the chosen teacher's logits on it
    model_params: dict[str, Any]
    kd_weights: dict[str, Any]
    loss: Loss
    config: StudentsConfig
    train: TrainConfig  # students.train with students.model.<arch>.train over it
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
        transfer_dir: Path,
        logits_dir: Path,
        data_dir: Path,
    ) -> StudentJob:
        config = params.students_config()
        dataset = params.teacher_config().dataset  # students learn the teacher's task
        return cls(
            arch=arch,
            kd_mode=kd_mode,
            transfer_dir=transfer_dir,
            logits_dir=logits_dir,
            model_params=config.model_params(arch),
            kd_weights=params.kd_weights(kd_mode),
            loss=params.kd_loss(kd_mode),
            config=config,
            train=config.train_config(arch),
            seed=params.seed if config.seed is None else config.seed,
            data=DataRef.from_params(params, dataset, data_dir),
        )

    @property
    def stage(self) -> str:
        return f"student@{self.arch}-{self.kd_mode}"

    @property
    def device(self) -> str:
        return self.train.device

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
            "teacher": self.config.teacher,
            "model": self.model_params,
            "train": self.train.model_dump(),
        }

    @property
    def inputs(self) -> list[Path]:
        return [self.transfer_dir / META, self.logits_dir]

    def fit(self, **trainer_options: Any) -> Fitted:
        trained = train_student(
            self.transfer_dir,
            self.logits_dir,
            self.arch,
            self.model_params,
            self.train,
            self.loss,
            self.seed,
            **trainer_options,
        )
        self._spec = trained.spec | {"clean": self.data.clean}  # predict cleans as training did
        encoder = read_json(self.transfer_dir / META)["encoder"]
        return _fitted(trained, AutoTokenizer.from_pretrained(encoder))

    def save(self, fitted: Fitted, model_dir: Path) -> None:
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
            "teacher": self.config.teacher if self.loss.needs_teacher else "none (plain)",
            "training rows": scores.get("train_rows"),
            "training": describe_training(self.train),
            "best epoch (on validation)": fitted.result.best_epoch,
            "agreement with the teacher (test)": scores["teacher_agreement"],
        }


def _fitted(trained: Trained, tokenizer: PreTrainedTokenizerBase) -> Fitted:
    test = trained.data["test"]
    return Fitted(trained.model, trained.result, test.labels, trained.spec["classes"], tokenizer)


def _test_texts(data_dir: Path, count: int) -> list[str]:
    _, splits = read_prepared(data_dir)
    return splits["test"]["text"].tolist()[:count]

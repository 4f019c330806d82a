"""Fine-tuning an encoder for classification, on the one training engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from textdistill.config import Params, TrainConfig
from textdistill.data.batching import Encoded, encode
from textdistill.data.prepare import read_prepared
from textdistill.io import read_json, write_json
from textdistill.lifecycle import DataRef, Fitted, Runnable, describe_training, model_size_mb
from textdistill.losses import Loss
from textdistill.models.classifier import (
    Pooling,
    SequenceClassifier,
    load_classifier,
    save_classifier,
)
from textdistill.models.store import SPEC
from textdistill.train import FitResult, Trainer

if TYPE_CHECKING:  # importing these costs seconds at start-up (transformers' model machinery)
    from transformers import PreTrainedTokenizerBase


INPUTS = ("input_ids", "attention_mask")
HEADS = {  # for the model card
    "pooler": "the encoder's own (AutoModelForSequenceClassification)",
    "mean": "token states mean-pooled over the mask, dropout, linear",
}


@dataclass
class Finetuned:
    classifier: SequenceClassifier
    tokenizer: PreTrainedTokenizerBase
    result: FitResult


def encode_splits(
    tokenizer: PreTrainedTokenizerBase, splits: Mapping[str, pd.DataFrame], max_length: int
) -> dict[str, Encoded]:
    return {
        name: encode(tokenizer, frame["text"].tolist(), frame["label"].tolist(), max_length)
        for name, frame in splits.items()
    }


def finetune(
    encoder_dir: Path,
    classes: Sequence[str],
    splits: Mapping[str, pd.DataFrame],
    config: TrainConfig,
    loss: Loss,
    seed: int,
    pooling: Pooling = "pooler",
    **trainer_options: Any,
) -> Finetuned:
    """Train a fresh classification head (`pooling`: see `models.classifier`) and the encoder
    from the pretrained weights."""
    classifier, tokenizer = load_classifier(encoder_dir, classes, seed, pooling)
    data = encode_splits(tokenizer, splits, config.max_length)
    trainer = Trainer(
        classifier,
        loss,
        config,
        inputs=INPUTS,
        seed=seed,
        pad_id=tokenizer.pad_token_id or 0,
        **trainer_options,
    )
    result = trainer.fit(data["train"], data["val"], data["test"])
    return Finetuned(classifier, tokenizer, result)


@dataclass
class FinetuneJob:
    """`finetune@<model>` for the training-stage lifecycle (`lifecycle.run_training_stage`)."""

    model: str
    encoder_dir: Path
    config: TrainConfig
    loss: Loss
    loss_spec: dict[str, Any]  # {"name": ..., "weights": ...}, for the record
    seed: int
    latency_examples: int
    data: DataRef  # the prepared dataset it trains on
    pooling: Pooling = "pooler"
    log_model: bool = True

    @classmethod
    def from_params(
        cls, params: Params, model: str, encoder_dir: Path, data_dir: Path
    ) -> FinetuneJob:
        section = params.finetune_config()
        dataset = section.dataset
        return cls(
            model=model,
            encoder_dir=encoder_dir,
            config=section.train_config(model),
            loss=params.finetune_loss(),
            loss_spec={"name": params.loss, "weights": params.loss_weights(params.loss)},
            seed=params.seed,
            latency_examples=section.latency_examples,
            data=DataRef.from_params(params, dataset, data_dir),
            pooling=section.pooling,
        )

    @property
    def stage(self) -> str:
        return f"finetune@{self.model}"

    @property
    def device(self) -> str:
        return self.config.device

    @property
    def title(self) -> str:
        return f"{self.model} fine-tuned on {self.data.name}"

    @property
    def params(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "model": self.model,
            "dataset": self.data.name,
            "pooling": self.pooling,
            "loss": self.loss_spec["name"],
            "loss_params": self.loss_spec["weights"],
            "train": self.config.model_dump(),
        }

    @property
    def inputs(self) -> list[Path]:
        return [self.encoder_dir, self.data.prepared]

    @cached_property
    def _prepared(self) -> tuple[list[str], dict[str, pd.DataFrame]]:
        return read_prepared(self.data.prepared)

    def fit(self, **trainer_options: Any) -> Fitted:
        classes, splits = self._prepared
        tuned = finetune(
            self.encoder_dir,
            classes,
            splits,
            self.config,
            self.loss,
            self.seed,
            self.pooling,
            **trainer_options,
        )
        labels = splits["test"]["label"].to_numpy()
        return Fitted(tuned.classifier, tuned.result, labels, classes, tuned.tokenizer)

    def save(self, fitted: Fitted, model_dir: Path) -> None:
        assert isinstance(fitted.model, SequenceClassifier)
        save_classifier(fitted.model, fitted.tokenizer, model_dir)
        spec = {"kind": "finetune", "classes": fitted.classes, "max_length": self.config.max_length}
        write_json(model_dir / SPEC, spec | {"pooling": self.pooling, "clean": self.data.clean})

    def runnable(self, fitted: Fitted, model_dir: Path) -> Runnable:
        size = model_size_mb(model_dir)
        return Runnable(fitted.model, fitted.tokenizer, self.config.max_length, size)

    def latency_texts(self) -> list[str]:
        return self._prepared[1]["test"]["text"].tolist()[: self.latency_examples]

    def facts(self, fitted: Fitted, scores: Mapping[str, Any]) -> dict[str, Any]:
        source = read_json(self.encoder_dir / "source.json")
        return {
            "task": f"{self.data.name} ({', '.join(fitted.classes)})",
            "base encoder": source.get("id") or self.encoder_dir.name,
            "head": HEADS[self.pooling],
            "loss": f"{self.loss_spec['name']} {self.loss_spec['weights']}",
            "training": describe_training(self.config),
            "best epoch (on validation)": fitted.result.best_epoch,
            "parameters": f"{scores['model']['parameters']:,}",
        }

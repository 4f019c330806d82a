"""Fine-tuning an encoder for classification, on the one training engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from transformers import PreTrainedTokenizerBase

from textdistill.config import TrainConfig
from textdistill.data.batching import Encoded, encode
from textdistill.losses import Loss
from textdistill.models.classifier import SequenceClassifier, load_classifier
from textdistill.train import FitResult, Trainer

INPUTS = ("input_ids", "attention_mask")


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
    **trainer_options: Any,
) -> Finetuned:
    """Train a fresh classification head and the encoder from the pretrained weights."""
    classifier, tokenizer = load_classifier(encoder_dir, classes, seed)
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

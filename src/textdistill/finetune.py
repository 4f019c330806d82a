"""Fine-tuning an encoder for classification, on the one training engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from transformers import PreTrainedTokenizerBase

from textdistill.config import TrainConfig
from textdistill.data.batching import Encoded, encode
from textdistill.evaluate import cpu_latency_ms
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
        classifier, loss, config, inputs=INPUTS, seed=seed, pad_id=tokenizer.pad_token_id or 0, **trainer_options
    )
    result = trainer.fit(data["train"], data["val"], data["test"])
    return Finetuned(classifier, tokenizer, result)


@torch.inference_mode()
def classifier_latency(
    classifier: SequenceClassifier, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int
) -> dict[str, float]:
    """CPU latency of classifying one raw text (tokenization included), batch size 1."""
    model = classifier.to("cpu").eval()

    def predict_one(i: int) -> None:
        encoded = tokenizer(texts[i], truncation=True, max_length=max_length, return_tensors="pt")
        model(encoded["input_ids"], encoded["attention_mask"])

    return cpu_latency_ms(predict_one, len(texts))

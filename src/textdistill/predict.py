"""Classify raw texts with any trained model of the pipeline (fine-tuned, teacher or student)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from textdistill.config import CleanConfig
from textdistill.data.clean import clean_texts
from textdistill.evaluate import softmax
from textdistill.models.store import load_model


@dataclass
class Prediction:
    text: str
    label: str
    probability: float
    probabilities: dict[str, float]


class Predictor:
    """A loaded model with its tokenizer, class names and the cleaning its data had."""

    def __init__(self, model_dir: Path) -> None:
        self.model, self.spec, self.tokenizer = load_model(Path(model_dir))
        self.classes: list[str] = self.spec["classes"]
        self.max_length: int = self.spec["max_length"]
        self.clean = CleanConfig(**self.spec["clean"]) if self.spec.get("clean") else None

    @torch.inference_mode()
    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Prediction]:
        cleaned = list(texts)
        if self.clean is not None:  # the same regex the training data went through
            cleaned = clean_texts(pd.Series(cleaned, dtype=str), self.clean)[0].tolist()
        predictions = []
        for start in range(0, len(cleaned), batch_size):
            batch = cleaned[start : start + batch_size]
            encoded = self.tokenizer(
                batch,
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
            logits = self.model(encoded["input_ids"], encoded["attention_mask"]).float().numpy()
            for offset, probs in enumerate(softmax(logits)):
                best = int(np.argmax(probs))
                predictions.append(
                    Prediction(
                        text=texts[start + offset],
                        label=self.classes[best],
                        probability=round(float(probs[best]), 6),
                        probabilities={
                            name: round(float(p), 6)
                            for name, p in zip(self.classes, probs, strict=True)
                        },
                    )
                )
        return predictions


def non_empty_lines(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        line = line.rstrip("\r\n")
        if line.strip():
            yield line

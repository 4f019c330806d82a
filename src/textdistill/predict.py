"""Classify raw texts with any trained model of the pipeline (fine-tuned, teacher or student)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError

from textdistill.config import CleanConfig
from textdistill.data.clean import clean_texts
from textdistill.errors import TextdistillError
from textdistill.evaluate import softmax
from textdistill.models.store import load_model


@dataclass
class Prediction:
    text: str
    label: str
    probability: float
    probabilities: dict[str, float]
    # Nothing was left to classify after the model's cleaning: the label is the model's guess
    # for an empty input, not about this text.
    empty: bool = False


class Predictor:
    """A loaded model with its tokenizer, class names and the cleaning its data had."""

    def __init__(self, model_dir: Path) -> None:
        try:
            self.model, self.spec, self.tokenizer = load_model(Path(model_dir))
            self.classes: list[str] = self.spec["classes"]
            self.max_length: int = self.spec["max_length"]
            self.clean = CleanConfig(**self.spec["clean"]) if self.spec.get("clean") else None
        except TextdistillError:
            raise
        except (ValueError, KeyError, TypeError, RuntimeError, OSError, SafetensorError) as error:
            # A truncated model.json, corrupt safetensors, a missing tokenizer file...
            raise TextdistillError(
                f"{model_dir} is not a valid textdistill model ({type(error).__name__}: "
                f"{str(error)[:200]}); rerun the stage that made it (dvc repro -f <stage>)"
            ) from error

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
                        empty=not batch[offset].strip(),
                    )
                )
        return predictions


def non_empty_lines(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        line = line.rstrip("\r\n")
        if line.strip():
            yield line


def read_text_lines(stream: BinaryIO, name: str) -> list[str]:
    """The non-empty lines of a UTF-8 byte stream; undecodable bytes name their line."""
    texts: list[str] = []
    for number, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TextdistillError(
                f"{name}:{number}: not UTF-8 (byte {error.start + 1} of the line is "
                f"{raw[error.start : error.start + 1]!r}); convert the file, e.g. iconv -t UTF-8"
            ) from None
        texts += non_empty_lines([line])
    return texts

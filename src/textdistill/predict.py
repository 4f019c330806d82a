"""Run any trained model of the pipeline on raw texts: classify them (fine-tuned, teacher or
student), or, with a multitask model, run one of its tasks on single texts or sentence pairs,
giving a class or a regression value."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from torch import nn

from textdistill.config import CleanConfig
from textdistill.data.batching import TextEncoder
from textdistill.data.clean import clean_texts
from textdistill.data.schemas import Task
from textdistill.errors import TextdistillError
from textdistill.evaluate import softmax
from textdistill.models.store import (
    MULTITASK,
    SPEC,
    calibration_temperature,
    load_model,
    read_model_spec,
)


@dataclass
class Prediction:
    """A class for one input (a text, or a pair: `text` and `text_pair`)."""

    text: str
    label: str
    probability: float
    probabilities: dict[str, float]
    # Nothing was left to classify after the model's cleaning (of either text of a pair): the
    # label is the model's guess for an empty input, not about this text.
    empty: bool = False
    text_pair: str | None = None  # the second text, for a task on sentence pairs
    task: str | None = None  # the task of a multitask model that made it

    def to_json(self) -> dict[str, Any]:
        return {
            **_inputs_json(self.text, self.text_pair, self.task),
            "label": self.label,
            "probability": self.probability,
            "probabilities": self.probabilities,
            "empty": self.empty,
        }

    def to_line(self) -> str:
        return f"{self.label}\t{self.probability:.4f}\t{_inputs_line(self.text, self.text_pair)}"


@dataclass
class ValuePrediction:
    """A regression task's value for one input (a text, or a pair: `text` and `text_pair`).

    `value` is the head's output clipped into the task's `target_range` (the range the
    training targets were validated against, e.g. [0, 5] for STS similarity): no target lies
    outside it, so clipping only ever moves a prediction closer to the truth. `raw_value` is
    the head's output as it is (it keeps the order of predictions beyond the ends, e.g. for a
    correlation).
    """

    text: str
    value: float
    raw_value: float
    target_range: tuple[float, float]
    empty: bool = False  # as in `Prediction`
    text_pair: str | None = None
    task: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **_inputs_json(self.text, self.text_pair, self.task),
            "value": self.value,
            "raw_value": self.raw_value,
            "target_range": list(self.target_range),
            "empty": self.empty,
        }

    def to_line(self) -> str:
        return f"{self.value:.4f}\t{_inputs_line(self.text, self.text_pair)}"


Result = Prediction | ValuePrediction


def _inputs_json(text: str, text_pair: str | None, task: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"text": text}
    if text_pair is not None:
        out["text_pair"] = text_pair
    if task is not None:
        out["task"] = task
    return out


def _inputs_line(text: str, text_pair: str | None) -> str:
    return text if text_pair is None else f"{text}\t{text_pair}"


@dataclass(frozen=True)
class TaskInfo:
    """One task a loaded model runs: its name (None: a single-task model's only task), its
    head's index, what it takes and predicts, and the cleaning its training texts had."""

    name: str | None
    index: int
    task: Task
    clean: CleanConfig | None
    temperature: float = 1.0  # probabilities are softmax(logits / temperature)

    @property
    def width(self) -> int:
        """How many of the model's outputs are this task's: its classes, or 1 value."""
        return 1 if self.task.regression else len(self.task.classes)

    def describe(self) -> str:
        return f"{self.name} ({self.task.describe()})"


class Predictor:
    """A loaded model with its tokenizer, its tasks and the cleaning their data had.

    A single-task model (fine-tuned encoder, teacher, student) has one task: single texts and
    classes. A multitask model (`models/multitask/<name>`) has one per head; `task=` picks one
    (required when there are several), and a pair task takes `predict_pairs`.
    """

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = Path(model_dir)
        self.model: nn.Module
        spec = read_model_spec(self.model_dir)  # no directory / no model.json: its own message
        try:
            if spec["kind"] == MULTITASK:
                from textdistill.models.multitask import load_multitask

                self.model, self.spec, self.tokenizer = load_multitask(self.model_dir)
                self.tasks = [_multitask_task(i, t) for i, t in enumerate(self.spec["tasks"])]
                if not self.tasks:
                    raise ValueError("its tasks list is empty")
            else:
                self.model, self.spec, self.tokenizer = load_model(self.model_dir)
                clean = CleanConfig(**self.spec["clean"]) if self.spec.get("clean") else None
                task = Task(tuple(self.spec["classes"]))
                temperature = calibration_temperature(self.spec, self.model_dir / SPEC)
                self.tasks = [TaskInfo(None, 0, task, clean, temperature)]
            self.max_length: int = self.spec["max_length"]
            self.encode = TextEncoder(self.tokenizer, self.max_length)  # single texts
        except TextdistillError:
            raise
        except (ValueError, KeyError, TypeError, RuntimeError, OSError, SafetensorError) as error:
            # A truncated model.json, corrupt safetensors, a missing tokenizer file...
            raise TextdistillError(
                f"{model_dir} is not a valid textdistill model ({type(error).__name__}: "
                f"{str(error)[:200]}); rerun the stage that made it (dvc repro -f <stage>)"
            ) from error

    @property
    def multitask(self) -> bool:
        return self.spec["kind"] == MULTITASK

    def task(self, name: str | None = None) -> TaskInfo:
        """The task `name` runs: a multitask model's task of that name (its only one when
        `name` is None), or a single-task model's one task (which takes no name)."""
        if not self.multitask:
            if name is not None:
                raise TextdistillError(
                    f"{self.model_dir} is a single-task model (kind {self.spec['kind']!r}): it "
                    f"takes no task name (got {name!r}); --task is for multitask models"
                )
            return self.tasks[0]
        listed = ", ".join(info.describe() for info in self.tasks)
        if name is None:
            if len(self.tasks) > 1:
                raise TextdistillError(
                    f"{self.model_dir} is a multitask model with {len(self.tasks)} tasks; choose "
                    f"one with --task NAME: {listed}"
                )
            return self.tasks[0]
        for info in self.tasks:
            if info.name == name:
                return info
        raise TextdistillError(f"{self.model_dir} has no task {name!r}; its tasks: {listed}")

    def check_inputs(self, info: TaskInfo, pairs: bool) -> None:
        """Refuse single texts for a task on pairs, or pairs for a task on single texts."""
        if pairs == info.task.pair:
            return
        if info.task.pair:
            raise TextdistillError(
                f"task {info.name!r} of {self.model_dir} takes sentence pairs (two texts each), "
                "not single texts: give each pair as --pair TEXT_A TEXT_B or as a --file line "
                "TEXT_A<TAB>TEXT_B (predict_pairs in Python)"
            )
        what = f"task {info.name!r} of {self.model_dir}" if info.name else str(self.model_dir)
        raise TextdistillError(
            f"{what} takes single texts, not sentence pairs: give each text alone (as an "
            "argument, or a --file of one text a line), not --pair"
        )

    def predict(
        self, texts: Sequence[str], batch_size: int = 32, task: str | None = None
    ) -> list[Result]:
        """One result per text, for a task on single texts (a class or a regression value)."""
        info = self.task(task)
        self.check_inputs(info, pairs=False)
        return self._run(info, list(texts), None, batch_size)

    def predict_pairs(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, task: str | None = None
    ) -> list[Result]:
        """One result per (text_a, text_b), for a task on sentence pairs; each text is cleaned
        as the task's training texts were, the pair encoded as `[CLS] a [SEP] b [SEP]` with its
        token types, truncated `longest_first` (both texts keep tokens)."""
        info = self.task(task)
        self.check_inputs(info, pairs=True)
        for number, pair in enumerate(pairs, start=1):
            if len(pair) != 2 or not all(isinstance(text, str) for text in pair):
                raise TextdistillError(f"pair {number} is not two texts: {pair!r}")
        return self._run(info, [a for a, _ in pairs], [b for _, b in pairs], batch_size)

    def _clean(self, info: TaskInfo, texts: list[str]) -> list[str]:
        if info.clean is None:
            return texts
        # The same regex the task's training data went through.
        return clean_texts(pd.Series(texts, dtype=str), info.clean)[0].tolist()

    @torch.inference_mode()
    def _run(
        self, info: TaskInfo, texts: list[str], pairs: list[str] | None, batch_size: int
    ) -> list[Result]:
        firsts = self._clean(info, texts)
        seconds = self._clean(info, pairs) if pairs is not None else None
        results: list[Result] = []
        for start in range(0, len(firsts), batch_size):
            batch = firsts[start : start + batch_size]
            batch_pairs = seconds[start : start + batch_size] if seconds is not None else None
            outputs = self._outputs(info, batch, batch_pairs)
            for offset, row in enumerate(outputs):
                index = start + offset
                empty = not batch[offset].strip() or (
                    batch_pairs is not None and not batch_pairs[offset].strip()
                )
                inputs = {
                    "text": texts[index],
                    "text_pair": pairs[index] if pairs is not None else None,
                    "task": info.name,
                    "empty": empty,
                }
                results.append(_result(info, row, inputs))
        return results

    def _outputs(self, info: TaskInfo, batch: list[str], pairs: list[str] | None) -> np.ndarray:
        """The task's head outputs for a batch: (n, classes) logits or (n, 1) values."""
        if not self.multitask:  # (input_ids, attention_mask) -> logits
            return self.model(*self.encode(batch)).float().numpy()
        encoded = self.tokenizer(
            batch,
            pairs,
            truncation="longest_first",
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        ids = encoded["input_ids"]
        types = encoded.get("token_type_ids")
        if types is None:  # a tokenizer without segments: every token is segment 0
            types = torch.zeros_like(ids)
        task_id = torch.full((len(ids),), info.index, dtype=torch.long)
        outputs = self.model(ids, encoded["attention_mask"], types, task_id)
        return outputs[:, : info.width].float().numpy()


def _result(info: TaskInfo, row: np.ndarray, inputs: dict[str, Any]) -> Result:
    task = info.task
    if task.target_range is not None:
        low, high = task.target_range
        raw = float(row[0])
        value = round(min(max(raw, low), high), 6)
        return ValuePrediction(
            value=value, raw_value=round(raw, 6), target_range=(low, high), **inputs
        )
    probs = softmax(row[None, :] / info.temperature)[0]
    best = int(np.argmax(probs))
    return Prediction(
        label=task.classes[best],
        probability=round(float(probs[best]), 6),
        probabilities={
            name: round(float(p), 6) for name, p in zip(task.classes, probs, strict=True)
        },
        **inputs,
    )


def _multitask_task(index: int, spec: dict[str, Any]) -> TaskInfo:
    """A task of a multitask model.json (name, classes, task, pair, target_range, clean)."""
    clean = spec.get("clean")
    task = Task.from_json(spec["classes"], spec)
    return TaskInfo(str(spec["name"]), index, task, CleanConfig(**clean) if clean else None)


def non_empty_lines(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        line = line.rstrip("\r\n")
        if line.strip():
            yield line


def _numbered_lines(stream: BinaryIO, name: str) -> Iterator[tuple[int, str]]:
    """The non-empty lines of a UTF-8 byte stream, numbered; undecodable bytes name their
    line."""
    for number, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TextdistillError(
                f"{name}:{number}: not UTF-8 (byte {error.start + 1} of the line is "
                f"{raw[error.start : error.start + 1]!r}); convert the file, e.g. iconv -t UTF-8"
            ) from None
        for text in non_empty_lines([line]):
            yield number, text


def read_text_lines(stream: BinaryIO, name: str) -> list[str]:
    """The non-empty lines of a UTF-8 byte stream; undecodable bytes name their line."""
    return [text for _, text in _numbered_lines(stream, name)]


def read_pair_lines(stream: BinaryIO, name: str) -> list[tuple[str, str]]:
    """The sentence pairs of a UTF-8 byte stream: each non-empty line two tab-separated texts,
    `text_a<TAB>text_b`; a line with no tab or several, or an empty text, names its line."""
    pairs = []
    for number, line in _numbered_lines(stream, name):
        columns = line.split("\t")
        if len(columns) != 2:
            raise TextdistillError(
                f"{name}:{number}: a pair task reads two tab-separated texts a line "
                f"(TEXT_A<TAB>TEXT_B); this line has {len(columns) - 1} tabs"
            )
        for column, text in zip(("first", "second"), columns, strict=True):
            if not text.strip():
                raise TextdistillError(f"{name}:{number}: the {column} text of the pair is empty")
        pairs.append((columns[0], columns[1]))
    return pairs

"""pandera schemas for raw and prepared tables, validated lazily so every failure is listed.

A failure becomes a `DataError` whose rows name the file, line (or split and row id), column,
offending value and what was expected.

What a table holds is a `Task`: one text per example or a sentence pair (`text_pair`), and
either a class label (an int64 id, with `label_name` once prepared) or a regression target (a
float64 within a range, and no `label_name`). A single-text classification table keeps the
columns it always had, so nothing downstream changes for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from textdistill.errors import DataError, Problem

if TYPE_CHECKING:
    from textdistill.config import DownloadConfig

PREPARED_COLUMNS = ["id", "text", "label", "label_name"]  # single-text classification
RAW_COLUMNS = ["file", "line", "raw_label", "label", "text"]
PAIR_COLUMN = "text_pair"


@dataclass(frozen=True)
class Task:
    """What each example holds: one text or a pair, and a class (`classes`) or a float target
    (`target_range`, both ends included). A list of class names stands for a single-text
    classification task wherever a `Task` is taken."""

    classes: tuple[str, ...] = ()
    target_range: tuple[float, float] | None = None
    pair: bool = False

    @classmethod
    def of(cls, labels: Sequence[str] | Task) -> Task:
        return labels if isinstance(labels, Task) else cls(tuple(labels))

    @classmethod
    def from_download(cls, config: DownloadConfig) -> Task:
        target = config.target_range
        return cls(
            tuple(config.classes),
            (target[0], target[1]) if config.task == "regression" and target else None,
            config.columns is not None and config.columns.text_pair is not None,
        )

    @classmethod
    def from_json(cls, classes: Sequence[str], extra: Mapping[str, Any] | None) -> Task:
        """From a class list and what `to_json` wrote (None: a single-text classification)."""
        if not extra:
            return cls(tuple(classes))
        target = extra.get("target_range")
        return cls(tuple(classes), tuple(target) if target else None, bool(extra.get("pair")))

    def to_json(self) -> dict[str, Any]:
        """The task beyond its class names (those are stored on their own, as always)."""
        out: dict[str, Any] = {"task": self.kind, "pair": self.pair}
        if self.target_range is not None:
            out["target_range"] = list(self.target_range)
        return out

    @property
    def regression(self) -> bool:
        return self.target_range is not None

    @property
    def kind(self) -> Literal["classification", "regression"]:
        return "regression" if self.regression else "classification"

    @property
    def plain(self) -> bool:
        """Single-text classification: the one kind every training stage reads today."""
        return not self.pair and not self.regression

    @property
    def text_columns(self) -> tuple[str, ...]:
        return ("text", PAIR_COLUMN) if self.pair else ("text",)

    def raw_columns(self) -> list[str]:
        return RAW_COLUMNS + ([PAIR_COLUMN] if self.pair else [])

    def prepared_columns(self) -> list[str]:
        names = [] if self.regression else ["label_name"]
        return ["id", *self.text_columns, "label", *names]

    def describe(self) -> str:
        """'sentence pairs with a regression target in [0, 5]', for messages and reports."""
        texts = "sentence pairs" if self.pair else "single texts"
        if self.target_range is None:
            return f"{texts} with {len(self.classes)} classes"
        return f"{texts} with a regression target in {target_text(self.target_range)}"


def target_text(target_range: tuple[float, float]) -> str:
    low, high = target_range
    return f"[{low:g}, {high:g}]"


def _non_empty() -> pa.Check:
    return pa.Check(
        lambda s: s.str.strip().str.len() > 0, element_wise=False, error="non-empty text"
    )


LabelScheme = Literal["one_based", "names", "ids"]


def label_expectation(classes: Sequence[str], scheme: LabelScheme) -> str:
    """What a label must look like in the file: fastText and AG News count classes from 1,
    tables hold class names or 0-based ids, so each is told its own rule."""
    if scheme == "names":
        return f"one of the class names {list(classes)} (columns.labels: names)"
    first = 0 if scheme == "ids" else 1
    names = ", ".join(f"{i + first}={name}" for i, name in enumerate(classes))
    rule = "a 0-based class id" if scheme == "ids" else "a label"
    return f"{rule} in {first}..{len(classes) - 1 + first} ({names})"


def _target_column(target_range: tuple[float, float], expected: str) -> pa.Column:
    """A float target: NaN (an empty cell or a word), inf and values out of range all fail one
    check, so each is reported as written with the same expectation."""
    low, high = target_range
    check = pa.Check(
        lambda s: np.isfinite(s) & s.between(low, high), ignore_na=False, error=expected
    )
    return pa.Column("float64", check, nullable=True)


def _label_column(task: Task, scheme: LabelScheme) -> pa.Column:
    if task.target_range is not None:
        expected = f"a number in {target_text(task.target_range)} (target_range)"
        return _target_column(task.target_range, expected)
    error = label_expectation(task.classes, scheme)
    return pa.Column("int64", pa.Check.in_range(0, len(task.classes) - 1, error=error))


def _text_columns(task: Task) -> dict[str, pa.Column]:
    return {name: pa.Column(str, _non_empty()) for name in task.text_columns}


def raw_schema(
    labels: Sequence[str] | Task, scheme: LabelScheme = "one_based"
) -> pa.DataFrameSchema:
    """One parsed raw record per row, `label` 0-based (resolved by the reader, -1 if unknown),
    or the float target as read (NaN if it is no number)."""
    task = Task.of(labels)
    return pa.DataFrameSchema(
        {
            "file": pa.Column(str),
            "line": pa.Column("int64", pa.Check.ge(0)),
            "raw_label": pa.Column(str),
            "label": _label_column(task, scheme),
        }
        | _text_columns(task),
        strict=True,
    )


def prepared_schema(labels: Sequence[str] | Task) -> pa.DataFrameSchema:
    """A split as written to parquet: unique ids, non-empty cleaned texts, consistent names."""
    task = Task.of(labels)
    columns = {"id": pa.Column(str, unique=True)} | _text_columns(task)
    if task.target_range is not None:
        columns["label"] = _target_column(task.target_range, target_text(task.target_range))
        return pa.DataFrameSchema(columns, strict=True, ordered=True)
    classes = list(task.classes)
    columns["label"] = pa.Column(
        "int64", pa.Check.in_range(0, len(classes) - 1, error=f"0..{len(classes) - 1}")
    )
    columns["label_name"] = pa.Column(str, pa.Check.isin(classes, error=f"one of {classes}"))
    return pa.DataFrameSchema(
        columns,
        checks=pa.Check(
            lambda df: df["label_name"] == df["label"].map(dict(enumerate(classes))),
            error="label_name matching label",
        ),
        strict=True,
        ordered=True,
    )


def validate_raw(
    frame: pd.DataFrame,
    labels: Sequence[str] | Task,
    path: str,
    scheme: LabelScheme = "one_based",
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Validate parsed raw records; problems are reported with the file and line they came from,
    and with the file's own column names where `names` maps the table's columns to them."""
    if frame.empty:  # pandera would answer with the dtype of an empty column
        raise DataError(f"{path}: no records (the file is empty)")
    try:
        return raw_schema(labels, scheme).validate(frame, lazy=True)
    except SchemaErrors as errors:
        rows = zip(frame.index, frame["file"], frame["line"], strict=True)
        where: dict[object, tuple[str, int]] = {row: (str(f), int(n)) for row, f, n in rows}
        problems = _problems(errors, frame, lambda row: where[row], names or {})
        raise DataError(f"{path}: raw data failed validation", problems) from None


def validate_prepared(
    frame: pd.DataFrame, labels: Sequence[str] | Task, split: str
) -> pd.DataFrame:
    """Validate a split before it is written; problems name the split and the row id."""
    try:
        return prepared_schema(labels).validate(frame, lazy=True)
    except SchemaErrors as errors:
        problems = _problems(
            errors, frame, lambda row: (f"{split} split, id {frame.at[row, 'id']!s}", None), {}
        )
        raise DataError(f"prepared split {split!r} failed validation", problems) from None


def _problems(
    errors: SchemaErrors,
    frame: pd.DataFrame,
    locate: Callable[[object], tuple[str, int | None]],
    names: Mapping[str, str],
) -> list[Problem]:
    """Turn pandera's failure cases into located problems; the raw label is shown as written."""
    problems = []
    for case in errors.failure_cases.itertuples(index=False):
        row = case.index if case.index is not None and case.index in frame.index else None
        file, line = locate(row) if row is not None else ("table", None)
        column = case.column if isinstance(case.column, str) else None
        value = case.failure_case
        if column == "label" and row is not None and "raw_label" in frame.columns:
            value = frame.at[row, "raw_label"]
        column = names.get(column, column) if column is not None else None
        problems.append(Problem(file, line, column, value, str(case.check)))
    return sorted(problems, key=lambda p: (p.file, p.line or 0))

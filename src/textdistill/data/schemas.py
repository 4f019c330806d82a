"""pandera schemas for raw and prepared tables, validated lazily so every failure is listed.

A failure becomes a `DataError` whose rows name the file, line (or split and row id), column,
offending value and what was expected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from textdistill.errors import DataError, Problem

PREPARED_COLUMNS = ["id", "text", "label", "label_name"]


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


def _label_in_range(classes: Sequence[str], scheme: LabelScheme) -> pa.Check:
    error = label_expectation(classes, scheme)
    return pa.Check.in_range(0, len(classes) - 1, error=error)


def raw_schema(classes: Sequence[str], scheme: LabelScheme = "one_based") -> pa.DataFrameSchema:
    """One parsed raw record per row, `label` 0-based (resolved by the reader, -1 if unknown)."""
    return pa.DataFrameSchema(
        {
            "file": pa.Column(str),
            "line": pa.Column("int64", pa.Check.ge(0)),
            "raw_label": pa.Column(str),
            "label": pa.Column("int64", _label_in_range(classes, scheme)),
            "text": pa.Column(str, _non_empty()),
        },
        strict=True,
    )


def prepared_schema(classes: Sequence[str]) -> pa.DataFrameSchema:
    """A split as written to parquet: unique ids, non-empty cleaned text, consistent names."""
    return pa.DataFrameSchema(
        {
            "id": pa.Column(str, unique=True),
            "text": pa.Column(str, _non_empty()),
            "label": pa.Column(
                "int64", pa.Check.in_range(0, len(classes) - 1, error=f"0..{len(classes) - 1}")
            ),
            "label_name": pa.Column(
                str, pa.Check.isin(list(classes), error=f"one of {list(classes)}")
            ),
        },
        checks=pa.Check(
            lambda df: df["label_name"] == df["label"].map(dict(enumerate(classes))),
            error="label_name matching label",
        ),
        strict=True,
        ordered=True,
    )


def validate_raw(
    frame: pd.DataFrame, classes: Sequence[str], path: str, scheme: LabelScheme = "one_based"
) -> pd.DataFrame:
    """Validate parsed raw records; problems are reported with the file and line they came from."""
    if frame.empty:  # pandera would answer with the dtype of an empty column
        raise DataError(f"{path}: no records (the file is empty)")
    try:
        return raw_schema(classes, scheme).validate(frame, lazy=True)
    except SchemaErrors as errors:
        rows = zip(frame.index, frame["file"], frame["line"], strict=True)
        where: dict[object, tuple[str, int]] = {row: (str(f), int(n)) for row, f, n in rows}
        problems = _problems(errors, frame, lambda row: where[row])
        raise DataError(f"{path}: raw data failed validation", problems) from None


def validate_prepared(frame: pd.DataFrame, classes: Sequence[str], split: str) -> pd.DataFrame:
    """Validate a split before it is written; problems name the split and the row id."""
    try:
        return prepared_schema(classes).validate(frame, lazy=True)
    except SchemaErrors as errors:
        problems = _problems(
            errors, frame, lambda row: (f"{split} split, id {frame.at[row, 'id']!s}", None)
        )
        raise DataError(f"prepared split {split!r} failed validation", problems) from None


def _problems(
    errors: SchemaErrors, frame: pd.DataFrame, locate: Callable[[object], tuple[str, int | None]]
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
        problems.append(Problem(file, line, column, value, str(case.check)))
    return sorted(problems, key=lambda p: (p.file, p.line or 0))

"""Property: any table written by the csv module (or as JSONL) reads back row for row.

Random texts hold quotes, delimiters, tabs, line breaks (inside quoted CSV fields) and any
Unicode; class names may be digits; both label schemes, with and without a header. What is read
back must equal what was written, each row at the physical line it starts on.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textdistill.config import TableColumns
from textdistill.data.formats import read_table
from textdistill.data.schemas import Task

SPECIALS = ['"', ",", ";", "\t", "\n", "\r", " ", "'", "é", "²", "٣", "\u2028", "\x00"]
# A lone \r is text (only LF or CRLF ends a line); a CRLF inside a quoted field reads as LF,
# as documented. A leading BOM is dropped by design, so it never starts a file here.
CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\r\ufeff")
TEXT = st.text(st.one_of(st.sampled_from(SPECIALS), CHARS), max_size=30)
CLASS_NAME = st.one_of(
    st.sampled_from(["0", "1", "2", "10", "neg", "pos", "très bien"]),
    st.text(CHARS, min_size=1, max_size=8),
).filter(lambda name: name == name.strip() and not {"\t", "\n"} & set(name))


@dataclass(frozen=True)
class Layout:
    """One way of writing the table: file kind, delimiter, header, label scheme."""

    suffix: str
    delimiter: str
    header: bool
    labels: str


LAYOUTS = st.builds(
    Layout,
    suffix=st.sampled_from([".csv", ".tsv", ".txt", ".jsonl"]),
    delimiter=st.sampled_from([",", ";", "|"]),
    header=st.booleans(),
    labels=st.sampled_from(["names", "ids"]),
)


def written_rows(layout: Layout, texts: list[str], tokens: list[str]) -> tuple[str, list[int]]:
    """The file's content and the physical line each data row starts on."""
    if layout.suffix == ".jsonl":
        lines = [
            json.dumps({"text": t, "label": k}, ensure_ascii=False)
            for t, k in zip(texts, tokens, strict=True)
        ]
        return "".join(line + "\n" for line in lines), list(range(1, len(lines) + 1))
    rows = [[t, k] for t, k in zip(texts, tokens, strict=True)]
    if layout.suffix == ".tsv":  # unquoted: tabs and line breaks cannot be written, quotes are text
        rows = [[t.replace("\t", " ").replace("\n", " "), k] for t, k in rows]
        texts[:] = [row[0] for row in rows]
    out, starts, line = io.StringIO(), [], 1
    delimiter = "\t" if layout.suffix == ".tsv" else layout.delimiter
    quoting = csv.QUOTE_NONE if layout.suffix == ".tsv" else csv.QUOTE_MINIMAL
    quotechar = None if quoting == csv.QUOTE_NONE else '"'
    writer = csv.writer(
        out, delimiter=delimiter, quoting=quoting, quotechar=quotechar, lineterminator="\n"
    )
    for row in ([["text", "label"]] if layout.header else []) + rows:
        before = out.tell()
        writer.writerow(row)
        starts.append(line)
        line += out.getvalue()[before:].count("\n")
    return out.getvalue(), starts[1:] if layout.header else starts


def columns_for(layout: Layout) -> TableColumns:
    options: dict[str, object] = {"labels": layout.labels}
    if layout.suffix == ".jsonl":
        return TableColumns(**options)
    if not layout.header:
        options |= {"header": False, "text": 0, "label": 1}
    if layout.suffix != ".tsv":
        options |= {"delimiter": layout.delimiter, "multiline": True}
    return TableColumns(**options)


@settings(max_examples=150, deadline=None)
@given(
    layout=LAYOUTS,
    classes=st.lists(CLASS_NAME, min_size=2, max_size=5, unique=True),
    rows=st.lists(st.tuples(TEXT, st.integers(0, 4)), min_size=1, max_size=12),
)
def test_tables_read_back_as_written(
    tmp_path_factory: pytest.TempPathFactory,
    layout: Layout,
    classes: list[str],
    rows: list[tuple[str, int]],
) -> None:
    labels = [index % len(classes) for _, index in rows]
    texts = [text for text, _ in rows]
    tokens = [classes[i] if layout.labels == "names" else str(i) for i in labels]
    content, starts = written_rows(layout, texts, tokens)
    path: Path = tmp_path_factory.mktemp("table") / f"t{layout.suffix}"
    path.write_text(content, encoding="utf-8", newline="")

    result = read_table(path, classes, columns_for(layout))

    if layout.suffix != ".jsonl":  # a CRLF in a quoted field is a line ending, read as LF
        texts = [text.replace("\r\n", "\n") for text in texts]
    assert result["text"].tolist() == texts
    assert result["label"].tolist() == labels
    assert result["raw_label"].tolist() == tokens
    assert result["line"].tolist() == starts


@settings(max_examples=100, deadline=None)
@given(
    suffix=st.sampled_from([".csv", ".jsonl"]),
    rows=st.lists(
        st.tuples(TEXT, TEXT, st.floats(allow_nan=False, allow_infinity=False, width=32)),
        min_size=1,
        max_size=12,
    ),
)
def test_pair_tables_with_float_targets_read_back_as_written(
    tmp_path_factory: pytest.TempPathFactory, suffix: str, rows: list[tuple[str, str, float]]
) -> None:
    """Both texts come back as written, and each target as the float its repr spells."""
    firsts, seconds, targets = (list(column) for column in zip(*rows, strict=True))
    path: Path = tmp_path_factory.mktemp("pairs") / f"t{suffix}"
    if suffix == ".jsonl":
        lines = [
            json.dumps({"a": a, "b": b, "y": y}, ensure_ascii=False) + "\n"
            for a, b, y in zip(firsts, seconds, targets, strict=True)
        ]
        path.write_text("".join(lines), encoding="utf-8", newline="")
    else:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows([["a", "b", "y"], *([a, b, repr(y)] for a, b, y in rows)])
        path.write_text(out.getvalue(), encoding="utf-8", newline="")
    options = {} if suffix == ".jsonl" else {"multiline": True}
    columns = TableColumns(text="a", text_pair="b", label="y", **options)
    regression = Task(target_range=(-math.inf, math.inf))

    result = read_table(path, regression, columns)

    if suffix == ".csv":  # a CRLF in a quoted field is a line ending, read as LF
        firsts, seconds = ([t.replace("\r\n", "\n") for t in ts] for ts in (firsts, seconds))
    assert result["text"].tolist() == firsts
    assert result["text_pair"].tolist() == seconds
    assert result["label"].tolist() == targets

"""Readers and writers of the raw formats, each keeping the file and line of every record.

Formats:
- `fasttext`: `__label__<k> <text>` per line, k = 1..K (Amazon: 1 negative, 2 positive).
- `agnews_csv`: headerless CSV `class, title, description`, class = 1..K, all fields quoted,
  newlines inside a description escaped as a backslash, HTML entities partly stripped.
- `table`: CSV/TSV/JSONL/parquet with a header and named text/label (and optional title)
  columns; labels are class names or 0-based integers.

Every reader returns a `RawTable` frame with columns `file`, `line`, `raw_label`, `label`
(0-based, -1 when unreadable) and `text`. Structural problems (no label, wrong column count,
bytes that are not UTF-8) raise `DataError` listing every offending line; value problems
(label out of range, empty text) are left to the pandera raw schema.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import html
import io
import lzma
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd

from textdistill.errors import DataError, Problem

RAW_COLUMNS = ["file", "line", "raw_label", "label", "text"]
UNKNOWN_LABEL = -1

_OPENERS: dict[str, Callable[..., io.BufferedIOBase]] = {
    ".gz": gzip.open,
    ".bz2": bz2.open,
    ".xz": lzma.open,
}
_FASTTEXT_LINE = re.compile(r"__label__(\S*)\s?(.*)", re.DOTALL)
_AGNEWS_BACKSLASHES = re.compile(r"\s*\\+\s*")
# Entities that lost their '&': numeric ones may follow a letter ("Sony#39;s"); named ones may
# not (so "&amp;amp;" is not read as two entities).
_AGNEWS_BARE_ENTITY = re.compile(r"(?<!&)(#\d+;)|(?<![&\w;])((?:quot|amp|lt|gt);)")


def compression_suffix(path: Path) -> str:
    return path.suffix.lower() if path.suffix.lower() in _OPENERS else ""


def read_bytes(path: Path) -> bytes:
    """Read a file, decompressing .gz/.bz2/.xz; a missing or corrupt file is a DataError."""
    if not path.is_file():
        raise DataError(f"raw file not found: {path}")
    opener = _OPENERS.get(compression_suffix(path))
    try:
        if opener is None:
            return path.read_bytes()
        with opener(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError, lzma.LZMAError) as error:
        raise DataError(f"{path}: cannot decompress ({error})") from error


def decode_utf8(data: bytes, path: Path) -> str:
    """Decode strictly, naming every line that holds bytes that are not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    problems = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            bad = line[error.start : error.end]
            problems.append(
                Problem(str(path), number, f"byte {error.start + 1}", bad, "UTF-8 text")
            )
    raise DataError(f"{path} is not valid UTF-8", problems)


def read_text(path: Path) -> str:
    """Decompressed, strictly decoded text with CRLF and CR line endings made LF."""
    text = decode_utf8(read_bytes(path), path)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _raw_table(rows: Iterable[tuple[str, int, str, int, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=RAW_COLUMNS)
    return frame.astype({"file": str, "line": "int64", "raw_label": str, "label": "int64"})


def _one_based_label(token: str) -> int:
    """'2' -> 1; anything that is not a positive integer is UNKNOWN_LABEL (the schema says why)."""
    return int(token) - 1 if token.isdigit() and int(token) > 0 else UNKNOWN_LABEL


# --- fastText ------------------------------------------------------------------------------


def read_fasttext(path: Path) -> pd.DataFrame:
    """Parse `__label__<k> <text>` lines. Blank lines are skipped; a line with no label fails."""
    rows, problems = [], []
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        match = _FASTTEXT_LINE.fullmatch(line)
        if match is None or not match.group(1):
            problems.append(
                Problem(str(path), number, "label", line, "a line '__label__<k> <text>'")
            )
            continue
        token, text = match.groups()
        if text.startswith("__label__"):
            problems.append(Problem(str(path), number, "label", line, "exactly one label"))
            continue
        rows.append((str(path), number, f"__label__{token}", _one_based_label(token), text))
    if problems:
        raise DataError(f"{path}: malformed fastText lines", problems)
    return _raw_table(rows)


def write_fasttext(path: Path, labels: Sequence[int], texts: Sequence[str]) -> None:
    """Write 0-based labels as `__label__<label+1> <text>` lines (newlines flattened)."""
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for label, text in zip(labels, texts, strict=True):
            handle.write(f"__label__{label + 1} {' '.join(text.split())}\n")


# --- AG News CSV ---------------------------------------------------------------------------


def unescape_agnews(text: str) -> str:
    """Undo AG News escaping: backslashes stand for newlines; entities lost their '&'.

    '#39;' -> "'", 'quot;' -> '"', '&lt;b&gt;' -> '<b>', 'dwindling\\band' -> 'dwindling band'.
    """
    text = _AGNEWS_BACKSLASHES.sub(" ", text)
    text = _AGNEWS_BARE_ENTITY.sub(lambda m: "&" + (m.group(1) or m.group(2)), text)
    return html.unescape(html.unescape(text)).strip()


def read_agnews_csv(path: Path) -> pd.DataFrame:
    """Parse the headerless `"class","title","description"` CSV; text = title + ' ' + description."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    rows, problems = [], []
    start = 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if not fields or fields == [""]:
                continue
            if len(fields) != 3:
                problems.append(
                    Problem(
                        str(path), line, "columns", fields, "3 columns: class, title, description"
                    )
                )
                continue
            token, title, description = (field.strip() for field in fields)
            text = " ".join(
                part for part in (unescape_agnews(title), unescape_agnews(description)) if part
            )
            rows.append((str(path), line, token, _one_based_label(token), text))
    except csv.Error as error:
        problems.append(Problem(str(path), start, "quoting", str(error), "well-formed CSV quoting"))
    if problems:
        raise DataError(f"{path}: malformed AG News CSV rows", problems)
    return _raw_table(rows)


def write_agnews_csv(
    path: Path, labels: Sequence[int], titles: Sequence[str], bodies: Sequence[str]
) -> None:
    """Write the original layout: 1-based class, every field quoted, newlines as backslashes."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for label, title, body in zip(labels, titles, bodies, strict=True):
            writer.writerow([label + 1, title.replace("\n", "\\"), body.replace("\n", "\\")])


# --- generic tables ------------------------------------------------------------------------

_TABLE_READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": lambda p: pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8"),
    ".tsv": lambda p: pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8"),
    ".jsonl": lambda p: pd.read_json(p, lines=True, dtype=False),
    ".parquet": pd.read_parquet,
}
# Line of row 0 in the file: CSV/TSV have a header line, JSONL does not, parquet has rows only.
_FIRST_LINE = {".csv": 2, ".tsv": 2, ".jsonl": 1, ".parquet": 0}


def table_kind(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _OPENERS:
        suffixes = suffixes[:-1]
    kind = suffixes[-1] if suffixes else ""
    if kind not in _TABLE_READERS:
        raise DataError(
            f"{path}: unknown table type {kind!r}; expected one of {sorted(_TABLE_READERS)}"
        )
    return kind


def read_table(
    path: Path, classes: Sequence[str], text: str, label: str, title: str | None = None
) -> pd.DataFrame:
    """Read a generic table; labels are class names from `classes` or integers 0..K-1."""
    kind = table_kind(path)
    if not path.is_file():
        raise DataError(f"raw file not found: {path}")
    if kind != ".parquet":
        decode_utf8(read_bytes(path), path)  # pandas' own decode errors name no line
    try:
        frame = _TABLE_READERS[kind](path)
    except (ValueError, pd.errors.ParserError) as error:
        raise DataError(f"{path}: cannot parse as {kind[1:]} ({error})") from error
    wanted = [c for c in (text, label, title) if c]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; the file has {list(frame.columns)}")
    index = {name: i for i, name in enumerate(classes)}
    raw_labels = frame[label].astype(str).str.strip()
    labels = raw_labels.map(lambda v: index.get(v, int(v) if v.isdigit() else UNKNOWN_LABEL))
    texts = frame[text].astype(str)
    if title:
        texts = frame[title].astype(str).str.cat(texts, sep=": ")
    lines = range(_FIRST_LINE[kind], _FIRST_LINE[kind] + len(frame))
    return _raw_table(zip([str(path)] * len(frame), lines, raw_labels, labels, texts, strict=True))

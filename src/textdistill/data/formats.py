"""Readers and writers of the raw formats, each keeping the file and line of every record.

Formats:
- `fasttext`: `__label__<k> <text>` per line, k = 1..K (Amazon: 1 negative, 2 positive).
- `agnews_csv`: headerless CSV `class, title, description`, class = 1..K, all fields quoted,
  newlines inside a description escaped as a backslash, HTML entities partly stripped.
- `table`: CSV/TSV/JSONL/parquet with a header and named text/label (and optional title and
  second text) columns; labels are class names or 0-based integers, or for a regression task
  a number.

Every reader returns a `RawTable` frame with columns `file`, `line`, `raw_label`, `label`
(0-based, -1 when unreadable; for regression the float, NaN when it is no number) and `text`,
then `text_pair` for sentence pairs. Structural problems (no label, wrong column count, bytes
that are not UTF-8) raise `DataError` listing every offending line; value problems (label out
of range, a target that is no number, an empty text) are left to the pandera raw schema.

Every text reader takes `drop_lines`: 1-based lines (as the errors number them) that are
blanked before the file is decoded and parsed, so a row that cannot be fixed in the file is
left out explicitly (the files source's `drop_lines`) and every other line keeps its number.
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import gzip
import html
import io
import json
import lzma
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from textdistill.config import ColumnRef, TableColumns
from textdistill.data.schemas import Task
from textdistill.errors import DataError, Problem

UNKNOWN_LABEL = -1
# One raw record: file, line, raw label, label (class id or float target), text[, text_pair].
RawRow = tuple[Any, ...]

_OPENERS: dict[str, Callable[..., io.BufferedIOBase]] = {
    ".gz": gzip.open,
    ".bz2": bz2.open,
    ".xz": lzma.open,
}
_FASTTEXT_LINE = re.compile(r"__label__(\S*)\s?(.*)", re.DOTALL)
_CLASS_ID = re.compile(r"[0-9]+")  # ASCII only: '²' and '٣' pass str.isdigit() but are no ids
# A decimal number as written in a table: no 'nan', 'inf', '1_000', '0x1' or Unicode digits.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
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


class EncodingError(DataError):
    """A file that is not UTF-8 as a whole: fixed by converting it (iconv), not by dropping
    its lines."""


# Byte-order marks of the encodings a spreadsheet's "Unicode text" export writes; UTF-32's
# first, as UTF-32LE's begins with UTF-16LE's.
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def decode_utf8(data: bytes, path: Path) -> str:
    """Decode strictly, naming every line that holds bytes that are not UTF-8.

    A file that starts with a UTF-16/32 byte-order mark, or whose every non-ASCII line fails
    (Latin-1, Windows-1252), is an `EncodingError` saying how to convert it. A UTF-8 file with
    a few bad lines is a plain DataError: converting it whole would garble its other text."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    packed = " (decompressed)" if compression_suffix(path) else ""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            problem = Problem(str(path), 1, "byte 1", bom, f"UTF-8 text, not a {encoding} BOM")
            excel = ", as Excel's 'Unicode text' export writes" if encoding == "UTF-16" else ""
            raise EncodingError(
                f"{path} is {encoding} text (it starts with a {encoding} byte-order mark{excel}), "
                "not UTF-8",
                [problem],
                f"hint: convert the{packed} file to UTF-8: iconv -f {encoding} -t UTF-8 in > out",
            )
    problems, utf8_lines = [], 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            bad = line[error.start : error.end]
            problems.append(
                Problem(str(path), number, f"byte {error.start + 1}", bad, "UTF-8 text")
            )
            continue
        utf8_lines += not line.isascii()
    if utf8_lines:
        summary = (
            f"{path} is UTF-8 but for these lines (its other non-ASCII lines are UTF-8, so "
            "converting the whole file would garble them)"
        )
        raise DataError(summary, problems)
    raise EncodingError(
        f"{path} is not UTF-8 (no line holds UTF-8 text beyond ASCII: another encoding)",
        problems,
        f"hint: convert the{packed} file to UTF-8, naming its encoding, e.g. Windows-1252 "
        "or Latin-1 as older spreadsheets write (`file -i` may tell): "
        "iconv -f WINDOWS-1252 -t UTF-8 in > out",
    )


def read_text(path: Path, drop_lines: Collection[int] = ()) -> str:
    """Decompressed, strictly decoded text with CRLF line endings made LF.

    Only LF (or CRLF) ends a line, so lines are numbered as `wc -l`, `sed -n` and editors
    number them; a lone CR inside a line is part of its text (cleaning reads it as whitespace).

    A leading byte-order mark (as spreadsheet programs write) is dropped, so a header's first
    name is the name the user sees. Each of `drop_lines` (1-based) is blanked before decoding,
    so its bytes need not even be UTF-8; a listed line not in the file, or a blank one (it
    holds no row to drop), is an error."""
    data = _lf_lines(read_bytes(path), path)
    if drop_lines:
        data = _blank_lines(path, data, drop_lines)
    return decode_utf8(data, path).removeprefix("\ufeff")


def _lf_lines(data: bytes, path: Path) -> bytes:
    """CRLF made LF; a lone CR stays, as text. A file with CRs but no LF at all (old Mac line
    endings) is refused rather than guessed at: read as one line, its records would run
    together; split at its CRs, a one-record file whose text holds a CR would be cut."""
    # Safe on bytes: CR and LF never occur inside a multi-byte UTF-8 sequence.
    data = data.replace(b"\r\n", b"\n")
    if b"\r" in data and b"\n" not in data:
        raise DataError(
            f"{path}: holds carriage returns (CR) but no line feed (LF): old Mac line "
            "endings? Only LF or CRLF ends a line here; convert the (decompressed) file, "
            "e.g. tr '\\r' '\\n' < in > out"
        )
    return data


def _last_line(data: bytes) -> int:
    """The number of the file's last line (a final line break ends it, opening none)."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _blank_lines(path: Path, data: bytes, drop_lines: Collection[int]) -> bytes:
    lines = data.split(b"\n")
    last = _last_line(data)
    outside = sorted(n for n in drop_lines if not 1 <= n <= last)
    if outside:
        raise DataError(
            f"{path}: drop_lines lists line(s) {outside}, but the file's lines are 1..{last:,}"
        )
    blank = sorted(n for n in drop_lines if not lines[n - 1].strip())
    if blank:
        raise DataError(f"{path}: drop_lines lists blank line(s) {blank}: they hold no row")
    for number in drop_lines:
        lines[number - 1] = b""
    return b"\n".join(lines)


def listed_lines(path: Path, numbers: Collection[int]) -> tuple[str, dict[int, str | None]]:
    """The file's first non-blank line (a table's header) and the text of each numbered line,
    numbered as `read_text` numbers them (None for a line that is not UTF-8)."""
    lines = _lf_lines(read_bytes(path), path).removeprefix(b"\xef\xbb\xbf").split(b"\n")
    first = next((line for line in lines if line.strip()), b"")
    return _decoded(first) or "", {n: _decoded(lines[n - 1]) for n in numbers}


def _csv_rows(text: str, **dialect: Any) -> tuple[Any, Callable[[list[str]], list[str]]]:
    """A csv reader that keeps a lone CR inside a field as text, and the function that gives a
    row's fields their CRs back. (The csv module ends a record at any CR, so each is read as a
    character the text does not hold.)"""
    mark = (
        next(chr(c) for c in range(0xE000, 0x110000) if chr(c) not in text) if "\r" in text else ""
    )
    reader = csv.reader(
        io.StringIO(text.replace("\r", mark) if mark else text, newline=""), **dialect
    )

    def restored(row: list[str]) -> list[str]:
        return [field.replace(mark, "\r") for field in row] if mark else row

    return reader, restored


# The csv module refuses a field over `csv.field_size_limit()` (131,072 characters by
# default), however valid the file. While a text is read the limit is raised to the text's
# length (no field is longer), bounded so it fits a C long on every platform.
CSV_FIELD_LIMIT = 2**31 - 1


@contextlib.contextmanager
def _field_limit(text: str) -> Iterator[int]:
    """Let the csv module read any field of `text` (up to CSV_FIELD_LIMIT); yield the limit."""
    old = csv.field_size_limit()
    limit = min(max(old, len(text) + 1), CSV_FIELD_LIMIT)
    csv.field_size_limit(limit)
    try:
        yield limit
    finally:
        csv.field_size_limit(old)


def _too_long_problem(path: Path, text: str, line: int, delimiter: str, limit: int) -> Problem:
    """A field over the csv module's limit: which one (by position) and how long it is."""
    fields = _physical_line(text, line).split(delimiter)
    position = max(range(len(fields)), key=lambda k: len(fields[k]))
    value = f"a field of {len(fields[position]):,} characters"
    expected = f"at most {limit:,} characters in a field (the most Python's csv module reads)"
    return Problem(str(path), line, f"#{position}", value, expected)


def _decoded(line: bytes) -> str | None:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return None


_CLASSIFIED_TEXTS = Task()  # fastText and AG News: one text and a class per record


def _raw_table(rows: Iterable[RawRow], task: Task = _CLASSIFIED_TEXTS) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=task.raw_columns())
    label = "float64" if task.regression else "int64"
    return frame.astype({"file": str, "line": "int64", "raw_label": str, "label": label})


def _one_based_label(token: str) -> int:
    """'2' -> 1; anything that is not a positive integer is UNKNOWN_LABEL (the schema says why)."""
    return int(token) - 1 if _CLASS_ID.fullmatch(token) and int(token) > 0 else UNKNOWN_LABEL


# --- fastText ------------------------------------------------------------------------------


def read_fasttext(path: Path, drop_lines: Collection[int] = ()) -> pd.DataFrame:
    """Parse `__label__<k> <text>` lines. Blank lines are skipped; a line with no label fails."""
    rows, problems = [], []
    for number, line in enumerate(read_text(path, drop_lines).split("\n"), start=1):
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


def read_agnews_csv(path: Path, drop_lines: Collection[int] = ()) -> pd.DataFrame:
    """Parse the headerless `"class","title","description"` CSV; text = title + ' ' + description."""
    content = read_text(path, drop_lines)
    reader, restored = _csv_rows(content)
    rows, problems = [], []
    start = 1
    with _field_limit(content) as limit:
        try:
            for row in reader:
                fields = restored(row)
                line, start = start, reader.line_num + 1
                if not fields or fields == [""]:
                    continue
                if len(fields) != 3:
                    expected = "3 columns: class, title, description"
                    problems.append(Problem(str(path), line, "columns", fields, expected))
                    continue
                token, title, description = (field.strip() for field in fields)
                text = " ".join(
                    part for part in (unescape_agnews(title), unescape_agnews(description)) if part
                )
                rows.append((str(path), line, token, _one_based_label(token), text))
        except csv.Error as error:
            if "field limit" in str(error):
                problems.append(_too_long_problem(path, content, start, ",", limit))
            else:
                expected = "well-formed CSV quoting"
                problems.append(Problem(str(path), start, "quoting", str(error), expected))
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

_DEFAULT_DELIMITERS = {".csv": ",", ".tsv": "\t"}
_DELIMITED = (".csv", ".tsv", ".txt")
_TABLE_KINDS = (*_DELIMITED, ".jsonl", ".parquet")
_ROW_WORD = {".jsonl": "lines", ".parquet": "rows (numbered from 0)"} | dict.fromkeys(
    _DELIMITED, "rows"
)
# One parsed record: its physical line (parquet: 0-based row) and its value per named column.
Record = tuple[int, dict[ColumnRef, object]]


def is_line_based(path: Path, fmt: str) -> bool:
    """Whether a raw file's errors name lines (every format but a parquet table's rows)."""
    return fmt != "table" or table_kind(path) != ".parquet"


def table_kind(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _OPENERS:
        suffixes = suffixes[:-1]
    kind = suffixes[-1] if suffixes else ""
    if kind not in _TABLE_KINDS:
        raise DataError(
            f"{path}: unknown table type {kind!r}; expected one of {sorted(_TABLE_KINDS)}"
        )
    return kind


def read_table(
    path: Path,
    labels: Sequence[str] | Task,
    columns: TableColumns,
    drop_lines: Collection[int] = (),
) -> pd.DataFrame:
    """Read a generic table as `columns` describes it: nothing about its layout is guessed.

    `labels` are the class names, or a `Task` (a regression task reads a number); whether
    examples are pairs is `columns.text_pair`'s to say. `drop_lines` are left out (see
    `read_text`); the header, or a line inside a multi-line record, cannot be."""
    task = table_task(labels, columns)
    kind = table_kind(path)
    _check_options_apply(path, kind, columns)
    refs = [*_text_refs(columns), columns.label]
    if kind in _DELIMITED:
        records, problems = _delimited_records(path, kind, columns, refs, drop_lines)
    elif kind == ".jsonl":
        records, problems = _jsonl_records(path, refs, drop_lines)
    elif drop_lines:
        raise DataError(
            f"{path}: drop_lines names lines of a text file; a parquet file has rows, not lines "
            "(drop the rows when writing the file)"
        )
    else:
        records, problems = _parquet_records(path, refs), []
    rows, value_problems = _table_rows(path, records, task, columns)
    problems = sorted(problems + value_problems, key=lambda p: p.line or 0)
    if problems:
        raise DataError(f"{path}: malformed {kind[1:]} {_ROW_WORD[kind]}", problems)
    if not rows:
        raise DataError(f"{path}: no data rows (the file is empty or holds only a header)")
    return _raw_table(rows, task)


def table_task(labels: Sequence[str] | Task, columns: TableColumns) -> Task:
    """The task a table holds: its labels' (classes or a target range), pairs if it names a
    second text column."""
    return replace(Task.of(labels), pair=columns.text_pair is not None)


def table_column_names(columns: TableColumns) -> dict[str, str]:
    """The file's name for each raw-table column it fills, so the raw schema's messages name
    the column the user knows (`is_duplicate`, `#3`), not the table's (`label`)."""
    refs = {"text": columns.text, "text_pair": columns.text_pair, "label": columns.label}
    return {name: column_name(ref) for name, ref in refs.items() if ref is not None}


def _check_options_apply(path: Path, kind: str, columns: TableColumns) -> None:
    """Splitting options on a JSONL or parquet file mean the user expected another file."""
    if kind in _DELIMITED:
        return
    given: dict[str, object] = {"delimiter": columns.delimiter, "quoting": columns.quoting}
    given |= {"multiline": columns.multiline or None, "header": (not columns.header) or None}
    wrong = sorted(key for key, value in given.items() if value is not None)
    if wrong:
        raise DataError(f"{path}: columns.{', '.join(wrong)} apply to .csv/.tsv/.txt, not {kind}")


def column_name(ref: ColumnRef) -> str:
    """How a column is named in messages: its header name, or `#k` for 0-based position k."""
    return ref if isinstance(ref, str) else f"#{ref}"


# --- delimited text (CSV, TSV, TXT) ---


def _dialect(path: Path, kind: str, columns: TableColumns) -> tuple[str, str]:
    """(delimiter, quoting) with the defaults resolved; a .txt file must name its delimiter."""
    delimiter = columns.delimiter or _DEFAULT_DELIMITERS.get(kind)
    if delimiter is None:
        raise DataError(
            f"{path}: a {kind} table needs columns.delimiter (one of ',', '\\t', ';', '|')"
        )
    quoting = columns.quoting
    if quoting is None:
        quoting = "minimal" if columns.multiline or delimiter != "\t" else "none"
    return delimiter, quoting


def _delimited_records(
    path: Path,
    kind: str,
    columns: TableColumns,
    refs: list[ColumnRef],
    drop_lines: Collection[int] = (),
) -> tuple[list[Record], list[Problem]]:
    """Split with the csv module, keeping each record's first physical line."""
    delimiter, quoting = _dialect(path, kind, columns)
    fields, problems = _split_lines(path, delimiter, quoting, columns.multiline, drop_lines)
    if not fields:  # an empty file, or nothing but broken quoting
        return [], problems
    first = fields[0][0]
    before = sorted(n for n in drop_lines if n < first)
    if columns.header and before:  # a blank line is refused, so the first one listed was it
        raise DataError(
            f"{path}:{before[0]}: drop_lines lists the header line (the column names); "
            "only data rows can be dropped"
        )
    positions, width, first = _positions(path, fields, refs, columns.header)
    body = fields[1:] if columns.header else fields
    records = []
    for line, row in body:
        if len(row) != width:
            expected = f"{width} fields separated by {delimiter!r}, as on line {first}"
            problems.append(Problem(str(path), line, "columns", row, expected))
            continue
        values: dict[ColumnRef, object] = {ref: row[positions[ref]] for ref in refs}
        records.append((line, values))
    return records, problems


def _split_lines(
    path: Path, delimiter: str, quoting: str, multiline: bool, drop_lines: Collection[int] = ()
) -> tuple[list[tuple[int, list[str]]], list[Problem]]:
    """Non-blank records with their first physical line, and every quoting problem."""
    text = read_text(path, drop_lines)
    dropped = frozenset(drop_lines)
    reader, restored = _csv_rows(
        text,
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting == "minimal" else csv.QUOTE_NONE,
        strict=True,  # a quoted field followed by more text is an error, not glued on
    )
    records, problems, start = [], [], 1
    with _field_limit(text) as limit:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as error:  # the reader starts afresh on the next line
                if "field limit" in str(error):
                    problems.append(_too_long_problem(path, text, start, delimiter, limit))
                else:
                    where = (start, reader.line_num)
                    problems.append(_quoting_problem(path, text, where, str(error)))
                start = reader.line_num + 1
                continue
            row = restored(row)
            line, start = start, reader.line_num + 1
            if len(row) <= 1 and not "".join(row).strip():
                continue
            spanned = range(line + 1, reader.line_num + 1)  # empty for a one-line record
            inside = [n for n in spanned if n in dropped]
            if inside:  # blanking it took a line out of a quoted field, not a row out of the file
                expected = (
                    f"a line holding a row, not one inside the record on lines {line}-"
                    f"{reader.line_num}; list all of its lines in drop_lines, or none"
                )
                problems += [Problem(str(path), n, "drop_lines", "", expected) for n in inside]
                continue
            if reader.line_num > line and not multiline:
                problems.append(_spanning_problem(path, line, reader.line_num, row))
                continue
            records.append((line, row))
    return records, problems


def _quoting_problem(path: Path, text: str, where: tuple[int, int], error: str) -> Problem:
    """Name the line where the record's quote opened (the likely culprit), showing that line."""
    line, last = where
    value = _physical_line(text, line)
    if "end of data" in error:
        expected = f"a closing quote (the quote opened on line {line} is never closed)"
        return Problem(str(path), line, "quoting", value, expected)
    expected = f"a quoted field closed right before a delimiter or the line's end ({error})"
    if last > line:
        expected += f"; the quote opened here runs to line {last}"
    return Problem(str(path), line, "quoting", value, expected + _QUOTING_HINT)


def _physical_line(text: str, number: int) -> str:
    lines = text.split("\n")
    return lines[number - 1] if 0 < number <= len(lines) else ""


_QUOTING_HINT = '; write a quote inside a quoted field as "", or set columns.quoting: none'


def _spanning_problem(path: Path, line: int, last: int, row: list[str]) -> Problem:
    value = next((field for field in row if "\n" in field), row)
    expected = (
        f"a record on one line, not a quoted field running to line {last}; close the quote, "
        "or set columns.multiline: true if texts hold line breaks"
    )
    return Problem(str(path), line, "quoting", value, expected)


def _positions(
    path: Path, fields: list[tuple[int, list[str]]], refs: list[ColumnRef], header: bool
) -> tuple[dict[ColumnRef, int], int, int]:
    """Each wanted column's position, the row width every line must have, and the first line."""
    first, row = fields[0]
    if header:
        missing = [ref for ref in refs if ref not in row]
        if missing:
            message = f"{path}: missing column(s) {missing}; the file has {row}"
            raise DataError(message, hint=_delimiter_hint(row, refs))
        repeated = [ref for ref in refs if row.count(str(ref)) > 1]
        if repeated:
            raise DataError(f"{path}:{first}: column(s) {repeated} appear more than once")
        return {ref: row.index(str(ref)) for ref in refs}, len(row), first
    beyond = [ref for ref in refs if int(ref) >= len(row)]
    if beyond:
        raise DataError(
            f"{path}:{first}: column position(s) {beyond} (0-based) but the line has "
            f"{len(row)} fields"
        )
    return {ref: int(ref) for ref in refs}, len(row), first


def _delimiter_hint(header: list[str], refs: list[ColumnRef]) -> str:
    """A one-field header that another delimiter splits into the wanted columns: say which."""
    if len(header) != 1:
        return ""
    for delimiter in (";", "\t", "|", ","):
        names = [name.strip() for name in header[0].split(delimiter)]
        if len(names) > 1 and all(ref in names for ref in refs):
            return f"hint: the header splits into them at {delimiter!r}: set columns.delimiter: {delimiter!r}"
    return ""


# --- JSONL and parquet ---


def _jsonl_records(
    path: Path, refs: list[ColumnRef], drop_lines: Collection[int] = ()
) -> tuple[list[Record], list[Problem]]:
    """One JSON object per line; every line that is not one, or lacks a key, is named."""
    records, problems = [], []
    for number, line in enumerate(read_text(path, drop_lines).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            expected = f"a JSON object ({error.msg} at character {error.colno})"
            problems.append(Problem(str(path), number, "json", line, expected))
            continue
        if not isinstance(value, dict):
            problems.append(Problem(str(path), number, "json", value, "a JSON object"))
            continue
        missing = [ref for ref in refs if ref not in value]
        for ref in missing:
            expected = f"a {ref!r} key (the line has {sorted(value)})"
            problems.append(Problem(str(path), number, str(ref), None, expected))
        if not missing:
            records.append((number, value))
    return records, problems


def _parquet_records(path: Path, refs: list[ColumnRef]) -> list[Record]:
    """Rows numbered from 0, as `pd.read_parquet(path).iloc[row]` finds them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(read_bytes(path)))
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: cannot parse as parquet ({error})") from error
    missing = [ref for ref in refs if ref not in table.column_names]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; the file has {table.column_names}")
    values = {ref: table.column(ref).to_pylist() for ref in refs}
    return [(row, {ref: values[ref][row] for ref in refs}) for row in range(table.num_rows)]


# --- values ---


def _text_refs(columns: TableColumns) -> list[ColumnRef]:
    """The text columns in reading order: text, then title and the second text if any."""
    return [ref for ref in (columns.text, columns.title, columns.text_pair) if ref is not None]


def _table_rows(
    path: Path, records: list[Record], task: Task, columns: TableColumns
) -> tuple[list[RawRow], list[Problem]]:
    """Checked texts and labels; a null or non-text value is a problem named with its line."""
    rows: list[RawRow] = []
    problems: list[Problem] = []
    text_refs = _text_refs(columns)
    for line, values in records:
        checked = [_check_text(path, line, ref, values[ref]) for ref in text_refs]
        checked.append(_label_token(path, line, columns.label, values[columns.label], task))
        found = [value for value in checked if isinstance(value, str)]
        if len(found) < len(checked):
            problems += [value for value in checked if isinstance(value, Problem)]
            continue
        *texts, raw = found
        label = _label_value(raw, task, columns.labels)
        rows.append((str(path), line, raw, label, *_example_texts(texts, columns)))
    return rows, problems


def _example_texts(texts: list[str], columns: TableColumns) -> list[str]:
    """`title: text`, then the second text if any, from texts in `_text_refs` order."""
    head = 1 if columns.title is None else 2
    return [": ".join(reversed(texts[:head])), *texts[head:]]


def _check_text(path: Path, line: int, ref: ColumnRef, value: object) -> str | Problem:
    if isinstance(value, str):
        return value
    expected = "a text, not null" if value is None else "a text (a JSON string)"
    return Problem(str(path), line, column_name(ref), value, expected)


def _label_token(path: Path, line: int, ref: ColumnRef, value: object, task: Task) -> str | Problem:
    """The label as written; a number keeps its digits, a null or a container is a problem."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    what = "a number" if task.regression else "a label"
    kinds = "a number or a string holding one" if task.regression else "a string or an integer"
    expected = f"{what}, not null" if value is None else f"{what} ({kinds})"
    return Problem(str(path), line, column_name(ref), value, expected)


def _label_value(token: str, task: Task, scheme: str) -> int | float:
    """The class id, or for regression the target (NaN when the token is no decimal number:
    the raw schema names it with the range it expected)."""
    if task.regression:
        return float(token) if _NUMBER.fullmatch(token) else math.nan
    return _label_id(token, task.classes, scheme)


def _label_id(token: str, classes: Sequence[str], scheme: str) -> int:
    """names: the class's index; ids: the integer itself. UNKNOWN_LABEL for the schema to name."""
    if scheme == "names":
        return list(classes).index(token) if token in classes else UNKNOWN_LABEL
    return int(token) if _CLASS_ID.fullmatch(token) else UNKNOWN_LABEL

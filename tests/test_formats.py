"""Raw format parsers: fastText, AG News CSV and generic tables, plain and compressed."""

from __future__ import annotations

import bz2
import csv
import gzip
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from textdistill.config import DownloadConfig, TableColumns
from textdistill.data import formats
from textdistill.data.formats import (
    read_agnews_csv,
    read_fasttext,
    read_table,
    unescape_agnews,
    write_agnews_csv,
    write_fasttext,
)
from textdistill.data.sources import load_raw, write_hub_frame
from textdistill.errors import DataError

FASTTEXT = "__label__2 Great CD: My lovely Pat has one of the GREAT voices.\n__label__1 Bad: no.\n"
AGNEWS = (
    '"3","Wall St. Bears Claw Back Into the Black (Reuters)","Reuters - Short-sellers, '
    "Wall Street's dwindling\\band of ultra-cynics, are seeing green again.\"\n"
    '"4","Title, with comma","He said quot;hi quot; and it#39;s \\\\ fine"\n'
)


def write(path: Path, text: str, newline: str = "\n") -> Path:
    data = text.replace("\n", newline).encode("utf-8")
    opener = {".gz": gzip.compress, ".bz2": bz2.compress}.get(path.suffix, lambda b: b)
    path.write_bytes(opener(data))
    return path


@pytest.mark.parametrize("name", ["train.ft.txt", "train.ft.txt.gz", "train.ft.txt.bz2"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_fasttext_plain_compressed_and_crlf(tmp_path: Path, name: str, newline: str) -> None:
    frame = read_fasttext(write(tmp_path / name, FASTTEXT, newline))
    assert frame["label"].tolist() == [1, 0]
    assert frame["line"].tolist() == [1, 2]
    assert frame["text"].tolist() == [
        "Great CD: My lovely Pat has one of the GREAT voices.",
        "Bad: no.",
    ]
    assert not any("\r" in text for text in frame["text"])


def test_fasttext_lone_cr_is_text_and_keeps_line_numbers(tmp_path: Path) -> None:
    """Only LF or CRLF ends a line (as `wc -l` and editors count); a CR alone is text."""
    path = tmp_path / "x.ft.txt"
    path.write_bytes(b"__label__1 a \r b\r\n__label__2 two\n__label__1\rtab\n")
    frame = read_fasttext(path)
    assert frame["line"].tolist() == [1, 2, 3]
    assert frame["text"].tolist() == ["a \r b", "two", "tab"]
    path.write_bytes(b"__label__1 a \r b\nno label\n")
    with pytest.raises(DataError) as error:
        read_fasttext(path)
    assert f"{path}:2: column 'label': got 'no label'" in str(error.value)
    assert "1 problem(s)" in str(error.value)


@pytest.mark.parametrize(
    ("name", "content", "options"),
    [
        ("t.csv", b"text,label\nsome \r text,pos\nnext,neg\nbad,maybe\n", {}),
        ("t.csv", b'text,label\n"some \r text",pos\nnext,neg\nbad,maybe\n', {}),
        ("t.csv", b'text,label\r\n"some \r text",pos\r\nnext,neg\r\nbad,maybe\r\n', {}),
        ("t.tsv", b"text\tlabel\nsome \r text\tpos\nnext\tneg\nbad\tmaybe\n", {}),
        ("t.txt", b"text|label\nsome \r text|pos\nnext|neg\nbad|maybe\n", {"delimiter": "|"}),
        ("t.csv", b'text,label\n"some \r text",pos\nnext,neg\nbad,maybe\n', {"multiline": True}),
    ],
)
def test_table_lone_cr_is_text_and_keeps_line_numbers(
    tmp_path: Path, name: str, content: bytes, options: dict[str, object]
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as error:
        load_raw(path, "table", ["neg", "pos"], TableColumns(**options))
    assert f"{path}:4: column 'label': got 'maybe'" in str(error.value)
    assert "1 problem(s)" in str(error.value)
    path.write_bytes(content.replace(b"maybe", b"neg"))
    frame = table(path, ["neg", "pos"], **options)
    assert frame["line"].tolist() == [2, 3, 4]
    assert frame["text"].tolist() == ["some \r text", "next", "bad"]


def test_agnews_lone_cr_is_text(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b'"1","a\rb","c"\n"2","d","e"\n')
    frame = read_agnews_csv(path)
    assert frame["line"].tolist() == [1, 2]
    assert frame["text"].tolist() == ["a\rb c", "d e"]


@pytest.mark.parametrize("content", [b"__label__1 a\r__label__2 b\r", b"__label__1 a\rb"])
def test_cr_only_file_is_refused_with_the_conversion(tmp_path: Path, content: bytes) -> None:
    """Old Mac line endings: CRs but no LF at all. Refused, not guessed at."""
    path = tmp_path / "mac.ft.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match="no line feed") as error:
        read_fasttext(path)
    assert str(path) in str(error.value) and "tr '\\r' '\\n'" in str(error.value)


def test_fasttext_line_without_label_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.ft.txt", FASTTEXT + "no label here\n")
    with pytest.raises(DataError) as error:
        read_fasttext(path)
    assert f"{path}:3" in str(error.value)
    assert "__label__<k> <text>" in str(error.value)


def test_fasttext_unknown_label_is_left_to_the_schema(tmp_path: Path) -> None:
    frame = read_fasttext(write(tmp_path / "x.ft.txt", "__label__7 text\n__label__x more\n"))
    assert frame["label"].tolist() == [6, -1]
    assert frame["raw_label"].tolist() == ["__label__7", "__label__x"]


def test_non_utf8_byte_names_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "x.ft.txt"
    path.write_bytes(b"__label__1 fine\n__label__2 caf\xe9 bad\n")
    with pytest.raises(DataError) as error:
        read_fasttext(path)
    message = str(error.value)
    assert f"{path}:2" in message and "xe9" in message and "UTF-8" in message


@pytest.mark.parametrize(
    ("encoding", "bom", "name"),
    [
        ("utf-16", b"\xff\xfe", "UTF-16"),
        ("utf-16-be", b"\xfe\xff", "UTF-16"),
        ("utf-32", b"\xff\xfe\x00\x00", "UTF-32"),
    ],
)
def test_utf16_file_says_so_and_how_to_convert(
    tmp_path: Path, encoding: str, bom: bytes, name: str
) -> None:
    """It was 'line 1 byte 1: got b'\\xff', expected UTF-8 text' and a hint to drop line 1."""
    path = tmp_path / "train.ft.txt"
    text = "__label__1 café\r\n__label__2 two\r\n"
    path.write_bytes(bom + text.encode(encoding).removeprefix(bom))
    with pytest.raises(DataError) as error:
        load_raw(path, "fasttext", ["neg", "pos"], None, part="train")
    message = str(error.value)
    assert f"{path} is {name} text (it starts with a {name} byte-order mark" in message
    assert f"{path}:1: column 'byte 1': got {bom!r}" in message
    assert f"iconv -f {name} -t UTF-8 in > out" in message
    assert "drop_lines" not in message


def test_latin1_file_says_how_to_convert_and_suggests_no_drop_lines(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_bytes("text,label\ncafé,pos\nnaïve,neg\nplain,pos\n".encode("latin-1"))
    with pytest.raises(DataError) as error:
        load_raw(path, "table", ["neg", "pos"], TableColumns(), part="train")
    message = str(error.value)
    assert f"{path}:2: column 'byte 4': got b'\\xe9', expected UTF-8 text" in message
    assert f"{path}:3: column 'byte 3': got b'\\xef'" in message
    assert "iconv -f WINDOWS-1252 -t UTF-8 in > out" in message
    assert "drop_lines" not in message


def test_a_utf8_file_with_a_bad_line_is_not_told_to_convert(tmp_path: Path) -> None:
    """Converting it whole would garble its UTF-8 text: the line can be fixed or dropped."""
    path = tmp_path / "train.csv"
    path.write_bytes("text,label\ncafé,pos\n".encode() + b"caf\xe9,neg\n")
    with pytest.raises(DataError) as error:
        load_raw(path, "table", ["neg", "pos"], TableColumns(), part="train")
    message = str(error.value)
    assert f"{path}:3: column 'byte 4': got b'\\xe9'" in message
    assert "iconv" not in message and "{drop_lines: {train: [3]}}" in message


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_fasttext(tmp_path / "absent.ft.txt")
    corrupt = tmp_path / "x.ft.txt.gz"
    corrupt.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="cannot decompress"):
        read_fasttext(corrupt)


@pytest.mark.parametrize("name", ["test.csv", "test.csv.gz", "test.csv.bz2"])
def test_agnews_quoted_commas_and_escaped_newlines(tmp_path: Path, name: str) -> None:
    frame = read_agnews_csv(
        write(tmp_path / name, AGNEWS, "\r\n" if name.endswith("bz2") else "\n")
    )
    assert frame["label"].tolist() == [2, 3]
    assert frame["text"][0] == (
        "Wall St. Bears Claw Back Into the Black (Reuters) Reuters - Short-sellers, "
        "Wall Street's dwindling band of ultra-cynics, are seeing green again."
    )
    assert frame["text"][1] == 'Title, with comma He said "hi " and it\'s fine'


def test_agnews_quoted_field_spanning_lines_keeps_line_numbers(tmp_path: Path) -> None:
    text = '"1","a","multi\nline"\n"2","b","c"\n'
    frame = read_agnews_csv(write(tmp_path / "x.csv", text))
    assert frame["line"].tolist() == [1, 3]


def test_agnews_row_with_two_columns_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", AGNEWS + '"2","only a title"\n')
    with pytest.raises(DataError) as error:
        read_agnews_csv(path)
    assert f"{path}:3" in str(error.value) and "3 columns" in str(error.value)


def test_unescape_agnews_entities() -> None:
    assert unescape_agnews("a &lt;b&gt; #36;5 &amp;amp; it#39;s") == "a <b> $5 & it's"


def test_writers_round_trip(tmp_path: Path) -> None:
    write_fasttext(tmp_path / "a.ft.txt", [0, 1], ["one\ntwo", "three"])
    assert read_fasttext(tmp_path / "a.ft.txt")["text"].tolist() == ["one two", "three"]
    write_agnews_csv(tmp_path / "a.csv", [3, 0], ['t, "q"', "u"], ["line\nbreak", "x"])
    frame = read_agnews_csv(tmp_path / "a.csv")
    assert frame["label"].tolist() == [3, 0]
    assert frame["text"].tolist() == ['t, "q" line break', "u x"]


def table(path: Path, classes: list[str], **columns: object) -> pd.DataFrame:
    """Read a table with these `columns` options (the params section, validated)."""
    return read_table(path, classes, TableColumns(**columns))


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet", ".csv.gz"])
@pytest.mark.parametrize("labels", ["names", "ids"])
def test_generic_tables_with_names_or_ids(tmp_path: Path, suffix: str, labels: str) -> None:
    stars = ["pos", "neg"] if labels == "names" else ["1", "0"]
    frame = pd.DataFrame({"review": ["good, really", "bad"], "stars": stars})
    path = tmp_path / f"t{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    result = table(path, ["neg", "pos"], text="review", label="stars", labels=labels)
    assert result["label"].tolist() == [1, 0]
    assert result["raw_label"].tolist() == stars
    assert result["text"].tolist() == ["good, really", "bad"]
    first = {".csv": 2, ".tsv": 2, ".jsonl": 1, ".parquet": 0, ".csv.gz": 2}[suffix]
    assert result["line"].tolist() == [first, first + 1]


def test_generic_table_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("body,label\nx,1\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['text'\]"):
        table(path, ["a", "b"])


# --- "never silently wrong": each defect of the old pandas reader, and more -----------------


def test_tsv_stray_quotes_never_merge_rows(tmp_path: Path) -> None:
    """Old reader: a text opening with '"' and a later one holding '"' merged 11 rows into 1."""
    texts = [f"question {i}?" for i in range(40)]
    texts[4] = '"""Given a set of points'
    texts[15] = 'what does " mean'
    path = tmp_path / "quora.tsv"
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(texts)))
    result = table(path, ["0", "1"])
    assert result["text"].tolist() == texts
    assert result["line"].tolist() == list(range(2, 42))


def test_tsv_balanced_quotes_are_kept(tmp_path: Path) -> None:
    """Old reader: `"Great" value` came back as `Great value`."""
    path = tmp_path / "t.tsv"
    path.write_text('text\tlabel\n"Great" value\tpos\nsay "hi"\tneg\n')
    assert table(path, ["neg", "pos"])["text"].tolist() == ['"Great" value', 'say "hi"']


def test_csv_stray_quote_fails_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('text,label\nfine,pos\n"stray,neg\nswallowed,pos\nlast" one,neg\n')
    with pytest.raises(DataError) as error:
        table(path, ["neg", "pos"])
    message = str(error.value)
    assert f"{path}:3: column 'quoting'" in message and "runs to line 5" in message


def test_csv_quoted_field_followed_by_text_fails(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('text,label\n"Great" value,pos\n')
    with pytest.raises(DataError) as error:
        table(path, ["neg", "pos"])
    assert f"{path}:2: column 'quoting': got '\"Great\" value,pos'" in str(error.value)
    assert "columns.quoting: none" in str(error.value)


def test_csv_quotes_kept_with_quoting_none(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('text,label\n"Great" value,pos\n')
    assert table(path, ["neg", "pos"], quoting="none")["text"].tolist() == ['"Great" value']


def test_multiline_text_keeps_physical_line_numbers(tmp_path: Path) -> None:
    """Old reader numbered rows index + 2: a 3-line text shifted every later line number."""
    path = tmp_path / "t.csv"
    path.write_text('text,label\n"one\ntwo\nthree",pos\nnext,neg\nbad,maybe\n')
    with pytest.raises(DataError) as error:
        load_raw(path, "table", ["neg", "pos"], TableColumns(multiline=True))
    assert f"{path}:6: column 'label': got 'maybe'" in str(error.value)
    path.write_text('text,label\n"one\ntwo\nthree",pos\nnext,neg\n')
    result = table(path, ["neg", "pos"], multiline=True)
    assert result["line"].tolist() == [2, 5]
    assert result["text"].tolist() == ["one\ntwo\nthree", "next"]


LONG = "x" * 200_000  # over the csv module's default field limit (131,072 characters)


@pytest.mark.parametrize(
    ("name", "content", "options"),
    [
        ("t.tsv", f"text\tlabel\n{LONG}\tpos\nb\tneg\n", {}),
        ("t.csv", f'text,label\n"{LONG}",pos\nb,neg\n', {}),
        ("t.csv", f"text,label\n{LONG},pos\nb,neg\n", {"multiline": True}),
    ],
)
def test_a_text_longer_than_the_csv_modules_default_limit_reads(
    tmp_path: Path, name: str, content: str, options: dict[str, object]
) -> None:
    """It failed with a quoting message that suggested columns.quoting: none."""
    limit = csv.field_size_limit()
    frame = table(write(tmp_path / name, content), ["neg", "pos"], **options)
    assert frame["text"].tolist() == [LONG, "b"]
    assert frame["line"].tolist() == [2, 3]
    assert csv.field_size_limit() == limit  # raised while reading only
    agnews = read_agnews_csv(write(tmp_path / "ag.csv", f'"1","t","{LONG}"\n"2","u","v"\n'))
    assert agnews["text"].tolist() == [f"t {LONG}", "u v"]


def test_a_field_over_the_limit_is_named_as_too_long_not_as_quoting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "CSV_FIELD_LIMIT", 150_000)
    for name, content in [
        ("t.tsv", f"text\tlabel\nfine\tneg\n{LONG}\tpos\n"),
        ("t.csv", f'text,label\nfine,neg\n"{LONG}",pos\n'),
    ]:
        path = write(tmp_path / name, content)
        with pytest.raises(DataError) as error:
            table(path, ["neg", "pos"])
        message = str(error.value)
        assert f"{path}:3: column '#0': got 'a field of 200,00" in message
        assert "at most 150,000 characters in a field" in message
        assert "quoting" not in message
    path = write(tmp_path / "ag.csv", f'"1","t","u"\n"2","t","{LONG}"\n')
    with pytest.raises(DataError) as error:
        read_agnews_csv(path)
    assert f"{path}:2: column '#2': got 'a field of 200,00" in str(error.value)


@pytest.mark.parametrize(
    ("name", "header", "delimiter"),
    [("t.csv", "text;label", ";"), ("t.csv", "text\tlabel", "\t"), ("t.tsv", "text|label", "|")],
)
def test_a_header_split_by_another_delimiter_names_it(
    tmp_path: Path, name: str, header: str, delimiter: str
) -> None:
    path = write(tmp_path / name, f"{header}\n" + f"a{delimiter}pos\n")
    with pytest.raises(DataError) as error:
        table(path, ["neg", "pos"])
    message = str(error.value)
    assert f"missing column(s) ['text', 'label']; the file has [{header!r}]\nhint: " in message
    assert f"set columns.delimiter: {delimiter!r}" in message
    assert table(path, ["neg", "pos"], delimiter=delimiter)["text"].tolist() == ["a"]


def test_a_header_without_the_columns_gets_no_delimiter_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "body;stars\na;pos\n")
    with pytest.raises(DataError, match="missing column") as error:
        table(path, ["neg", "pos"])
    assert "hint" not in str(error.value)


def test_digit_class_names_and_ids_are_never_mixed(tmp_path: Path) -> None:
    """Old reader: classes '1'..'5' with ids 0..4 made ids 0 and 1 both class '1'."""
    classes = ["1", "2", "3", "4", "5"]
    path = tmp_path / "t.csv"
    path.write_text("text,label\n" + "".join(f"t{i},{i}\n" for i in range(5)))
    assert table(path, classes, labels="ids")["label"].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(DataError) as error:
        load_raw(path, "table", classes, TableColumns(labels="names"))
    assert f"{path}:2: column 'label': got '0', expected one of the class names" in str(error.value)
    path.write_text("text,label\n" + "".join(f"t{i},{i + 1}\n" for i in range(5)))
    assert table(path, classes, labels="names")["label"].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("token", ["²", "٣", "-1", "1.0", "0x1"])
def test_ids_accept_only_ascii_integers(tmp_path: Path, token: str) -> None:
    """'²'.isdigit() is True and int('²') raised a traceback in the old reader."""
    path = tmp_path / "t.csv"
    path.write_text(f"text,label\nx,{token}\n")
    with pytest.raises(DataError) as error:
        load_raw(path, "table", ["a", "b"], TableColumns(labels="ids"))
    assert f"got {token!r}, expected a 0-based class id in 0..1 (0=a, 1=b)" in str(error.value)


def test_fasttext_superscript_label_is_a_located_error(tmp_path: Path) -> None:
    frame = read_fasttext(write(tmp_path / "x.ft.txt", "__label__² text\n"))
    assert frame["label"].tolist() == [-1]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("e.csv", "", "no data rows"),
        ("h.csv", "text,label\n", "no data rows"),
        ("e.jsonl", "\n\n", "no data rows"),
        ("e.ft.txt", "", "no records"),
    ],
)
def test_empty_files_say_so(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = write(tmp_path / name, content)
    fmt = "fasttext" if name.endswith(".ft.txt") else "table"
    with pytest.raises(DataError, match=expected) as error:
        load_raw(path, fmt, ["a", "b"], TableColumns())
    assert "dtype" not in str(error.value)


def test_jsonl_errors_name_lines_and_null_labels(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.jsonl",
        '{"text": "a", "label": "pos"}\n{"text": "b", "label": null}\n\n{"text": "c", "label"\n'
        '{"label": "neg"}\n{"text": null, "label": "neg"}\n',
    )
    with pytest.raises(DataError) as error:
        table(path, ["neg", "pos"])
    message = str(error.value)
    assert f"{path}:2: column 'label': got None, expected a label, not null" in message
    assert f"{path}:4: column 'json'" in message and "at character" in message
    assert f"{path}:5: column 'text'" in message and "a 'text' key" in message
    assert f"{path}:6: column 'text': got None" in message


def test_parquet_null_label_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"text": ["a", "b"], "label": ["pos", None]}).to_parquet(path)
    with pytest.raises(DataError) as error:
        table(path, ["neg", "pos"])
    assert "numbered from 0" in str(error.value)
    assert f"{path}:1: column 'label': got None, expected a label, not null" in str(error.value)


def test_headerless_table_uses_positions(tmp_path: Path) -> None:
    path = write(tmp_path / "t.txt", "pos;first\nneg;second;\n")
    columns = {"header": False, "text": 1, "label": 0, "delimiter": ";"}
    with pytest.raises(DataError, match=r":2: column 'columns'.*2 fields separated by ';'"):
        table(path, ["neg", "pos"], **columns)
    path.write_text("pos;first\nneg;second\n")
    result = table(path, ["neg", "pos"], **columns)
    assert result["text"].tolist() == ["first", "second"]
    assert result["line"].tolist() == [1, 2]


def test_txt_needs_a_delimiter_and_jsonl_takes_none(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="needs columns.delimiter"):
        table(write(tmp_path / "t.txt", "text;label\nx;pos\n"), ["neg", "pos"])
    with pytest.raises(DataError, match=r"columns.delimiter apply to .csv/.tsv/.txt"):
        table(write(tmp_path / "t.jsonl", "{}\n"), ["neg", "pos"], delimiter=",")


def test_tab_delimited_csv_file_and_byte_order_mark(tmp_path: Path) -> None:
    """The minBERT files are tab-separated under a .csv name; spreadsheets write a BOM."""
    path = tmp_path / "t.csv"
    path.write_bytes("\ufefftext\tlabel\nx, y\tpos\n".encode())
    assert table(path, ["neg", "pos"], delimiter="\t")["text"].tolist() == ["x, y"]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"header": False}, "with header: false, text must be a 0-based column position"),
        ({"text": 0}, "with header: true, text must be a header name"),
        ({"delimiter": ":"}, "delimiter"),
        ({"quoting": "all"}, "quoting"),
        ({"labels": "auto"}, "labels"),
        ({"label": "text"}, "different columns"),
        ({"multiline": True, "quoting": "none"}, "needs quoting: minimal"),
        ({"quotechar": "'"}, "Extra inputs are not permitted"),
        ({"header": "no"}, "valid boolean"),
    ],
)
def test_table_options_are_validated(columns: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TableColumns(**columns)


def test_hub_rows_written_in_the_scheme_read_back(tmp_path: Path) -> None:
    hub = {"path": "x", "revision": "r"}
    for labels in ("names", "ids"):
        config = DownloadConfig(
            format="table",
            classes=["neg", "pos"],
            source="hub",
            hub=hub,
            columns={"labels": labels},
        )
        path = tmp_path / f"{labels}.parquet"
        frame = pd.DataFrame({"text": ["a", "b"], "label": [1, 0]})
        write_hub_frame(frame, config, config.hub, path)
        assert table(path, ["neg", "pos"], labels=labels)["label"].tolist() == [1, 0]

"""Raw format parsers: fastText, AG News CSV and generic tables, plain and compressed."""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import pandas as pd
import pytest

from textdistill.data.formats import (
    read_agnews_csv,
    read_fasttext,
    read_table,
    unescape_agnews,
    write_agnews_csv,
    write_fasttext,
)
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


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet", ".csv.gz"])
def test_generic_tables_with_names_or_ints(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"review": ["good, really", "bad"], "stars": ["pos", "0"]})
    path = tmp_path / f"t{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    table = read_table(path, ["neg", "pos"], text="review", label="stars")
    assert table["label"].tolist() == [1, 0]
    assert table["text"].tolist() == ["good, really", "bad"]
    assert (
        table["line"].tolist()[0]
        == {".csv": 2, ".tsv": 2, ".jsonl": 1, ".parquet": 0, ".csv.gz": 2}[suffix]
    )


def test_generic_table_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("body,label\nx,1\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['text'\]"):
        read_table(path, ["a", "b"], text="text", label="label")

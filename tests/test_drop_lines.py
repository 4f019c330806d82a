"""`files.drop_lines`: rows that cannot be fixed in the file are left out explicitly, never
silently. Each bad value is a clear error; the dropped lines are recorded in the raw manifest
and counted by prepare; a listed line that reads fine is dropped with a note; the error for a
bad row names the option; a download without the key is what it always was."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from stages.download import main as download_main
from textdistill.config import DownloadConfig, PrepareConfig, SplitConfig, parse_params
from textdistill.data.prepare import prepare, report
from textdistill.data.sources import download, load_raw
from textdistill.errors import DataError, ParamsError

REPO = Path(__file__).resolve().parents[1]
MINBERT = REPO.parent / "shared" / "data" / "minbert"
QUORA = MINBERT / "quora-dev.csv.gz"
QUORA_COLUMNS = {
    "text": "sentence1",
    "text_pair": "sentence2",
    "label": "is_duplicate",
    "delimiter": "\t",
}
QUORA_BROKEN = [2577, 14222]
needs_minbert = pytest.mark.skipif(not MINBERT.is_dir(), reason=f"{MINBERT} is absent")

# Line 1 is the header; lines 3 and 5 hold bad labels, line 4 a good row; 15 lines in all.
TABLE = "text\tlabel\nfine one\tpos\nbroken\tmaybe\ngood\tneg\nworse\t\n" + "".join(
    f"row {i}\t{['neg', 'pos'][i % 2]}\n" for i in range(10)
)


def table_config(path: Path, drop: dict[str, Any] | None = None, **keys: Any) -> DownloadConfig:
    files: dict[str, Any] = {"train": str(path)} | keys
    if drop is not None:
        files["drop_lines"] = drop
    return DownloadConfig(
        format="table", classes=["neg", "pos"], source="files", files=files, columns={}
    )


def quora_config(drop: dict[str, Any] | None) -> DownloadConfig:
    files: dict[str, Any] = {"train": str(QUORA)}
    if drop is not None:
        files["drop_lines"] = drop
    return DownloadConfig(
        format="table",
        classes=["0.0", "1.0"],
        source="files",
        files=files,
        columns=QUORA_COLUMNS,
    )


# --- the real Quora file -------------------------------------------------------------------


@needs_minbert
def test_real_quora_downloads_with_its_two_broken_lines_dropped(tmp_path: Path) -> None:
    manifest = download(quora_config({"train": QUORA_BROKEN}), tmp_path / "raw")
    entry = manifest["files"]["train"]
    assert entry["rows"] == 20212
    assert entry["dropped"] == {"lines": QUORA_BROKEN, "count": 2, "fine": []}
    written = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert written["files"]["train"]["dropped"] == entry["dropped"]
    splits = SplitConfig(train="all", val=1000, test=2000, test_from="train")
    data = prepare(tmp_path / "raw", PrepareConfig(splits=splits))
    assert data.counts["raw_train"] == 20212 and data.counts["dropped_lines"] == 2
    assert data.metrics()["rows"]["dropped_lines"] == 2
    assert "| dropped_lines | 2 |" in report("quora", data, r"[^\w\s]")
    ids = set(pd.concat(data.splits.values())["id"])
    assert not ids & {f"train-{line}" for line in QUORA_BROKEN}
    assert "train-2576" in ids or "train-2578" in ids  # the other lines keep their numbers


@needs_minbert
def test_real_quora_error_names_the_option_with_the_lines_to_list(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        download(quora_config(None), tmp_path / "raw")
    message = str(error.value)
    assert f"{QUORA}:2577: column 'is_duplicate': got ''" in message
    assert message.endswith(
        "hint: a row that cannot be fixed in the file can be dropped explicitly: "
        "files: {drop_lines: {train: [2577, 14222]}}"
    )
    with pytest.raises(DataError) as error:  # one listed: the hint gives the whole list
        download(quora_config({"train": [2577]}), tmp_path / "raw")
    assert "2577:" not in str(error.value)
    assert str(error.value).endswith("files: {drop_lines: {train: [2577, 14222]}}")
    assert not (tmp_path / "raw").exists()


@needs_minbert
def test_minbert_header_with_an_empty_first_field_reads_as_a_files_source(
    tmp_path: Path,
) -> None:
    """The minBERT .csv.gz files start their header with an empty field (a pandas index)."""
    with gzip.open(MINBERT / "sts-train.csv.gz", "rt") as handle:
        assert handle.readline().startswith("\tid\tsentence1\tsentence2\t")
    config = DownloadConfig(
        format="table",
        task="regression",
        target_range=[0, 5],
        source="files",
        files={"train": str(MINBERT / "sts-train.csv.gz"), "test": str(MINBERT / "sts-dev.csv.gz")},
        columns=QUORA_COLUMNS | {"label": "similarity"},
    )
    manifest = download(config, tmp_path / "raw")
    assert {part: entry["rows"] for part, entry in manifest["files"].items()} == {
        "train": 6040,
        "test": 863,
    }
    data = prepare(
        tmp_path / "raw", PrepareConfig(splits=SplitConfig(train="all", val=500, test="all"))
    )
    assert data.counts["raw_test"] == 863 and "dropped_lines" not in data.counts


# --- bad values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ({"test": [3]}, "files.drop_lines.test\n  part 'test' has no file"),
        ({"dev": [3]}, "files.drop_lines.dev\n  part 'dev' has no file"),
        ({"train": [0, 3]}, "line numbers are 1-based, as errors name them; got [0]"),
        ({"train": [-2]}, "line numbers are 1-based, as errors name them; got [-2]"),
        ({"train": [3, 5, 3]}, "lists line(s) [3] more than once"),
        ({"train": []}, "lists no line"),
        ({"train": ["3"]}, "files.drop_lines.train.0\n  Input should be a valid integer"),
        ({"train": [True]}, "Input should be a valid integer"),
        ({"train": 3}, "Input should be a valid list"),
    ],
)
def test_bad_drop_lines_params_are_refused(drop: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        table_config(Path("t.tsv"), drop)
    assert message in str(error.value)


def test_bad_drop_lines_are_named_with_their_key_in_params() -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["download"]["amazon"] = {
        "format": "fasttext",
        "classes": ["neg", "pos"],
        "source": "files",
        "files": {"train": "a.ft.txt", "drop_lines": {"train": [4, 4], "test": [1]}},
    }
    with pytest.raises(ParamsError) as error:
        parse_params(params)
    message = str(error.value)
    assert "download.amazon.files.drop_lines.train: lists line(s) [4] more than once" in message
    assert "download.amazon.files.drop_lines.test: part 'test' has no file" in message


@pytest.mark.parametrize(
    ("content", "drop", "message"),
    [
        (TABLE, [3, 5, 16], "drop_lines lists line(s) [16], but the file's lines are 1..15"),
        (TABLE.replace("good\tneg\n", "\n"), [3, 4, 5], "drop_lines lists blank line(s) [4]"),
        (TABLE, [1, 3, 5], ":1: drop_lines lists the header line (the column names)"),
    ],
)
def test_listed_lines_the_file_does_not_have_are_errors(
    tmp_path: Path, content: str, drop: list[int], message: str
) -> None:
    path = tmp_path / "t.tsv"
    path.write_text(content)
    with pytest.raises(DataError, match=re.escape(message)):
        download(table_config(path, {"train": drop}), tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_a_line_inside_a_multi_line_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('text,label\n"one\ntwo\nthree",pos\nx,neg\n')
    config = DownloadConfig(
        format="table",
        classes=["neg", "pos"],
        source="files",
        files={"train": str(path), "drop_lines": {"train": [3]}},
        columns={"multiline": True},
    )
    with pytest.raises(DataError) as error:
        download(config, tmp_path / "raw")
    assert f"{path}:3: column 'drop_lines'" in str(error.value)
    assert "not one inside the record on lines 2-4" in str(error.value)
    assert "hint" not in str(error.value)  # listing it again would not help


def test_parquet_has_rows_not_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"text": ["a", "b"], "label": ["pos", "maybe"]}).to_parquet(path)
    with pytest.raises(DataError) as error:
        download(table_config(path), tmp_path / "raw")
    assert "hint" not in str(error.value)  # a parquet row is no line
    with pytest.raises(DataError, match="a parquet file has rows, not lines"):
        download(table_config(path, {"train": [2]}), tmp_path / "raw")


# --- what is dropped, recorded and said ----------------------------------------------------


def run_stage(tmp_path: Path, config: dict[str, Any]) -> tuple[int, str, str]:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["download"]["amazon"] = config
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    args = ["amazon", "--out", str(tmp_path / "raw"), "--params", str(path)]
    result = CliRunner().invoke(download_main, args)
    return result.exit_code, result.stdout, result.stderr


def table_params(path: Path, files: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "table",
        "classes": ["neg", "pos"],
        "source": "files",
        "files": {"train": str(path)} | files,
        "columns": {},
    }


def test_the_stage_drops_bad_lines_records_them_and_notes_a_fine_one(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text(TABLE)
    test = tmp_path / "test.tsv"
    test.write_text("text\tlabel\na\tpos\nb\tneg\n")
    code, out, err = run_stage(tmp_path, table_params(path, {"test": str(test)}))
    assert code == 2
    assert f"{path}:3: column 'label': got 'maybe'" in err
    assert "files: {drop_lines: {train: [3, 5]}}" in err  # the part is named

    drop = {"train": [5, 4, 3], "test": [3]}  # 4 and test's 3 read fine: dropped all the same
    code, out, err = run_stage(
        tmp_path, table_params(path, {"test": str(test), "drop_lines": drop})
    )
    assert code == 0, err
    assert out == f"amazon train: 11 rows from {path}\namazon test: 1 rows from {test}\n"
    note = "note: {}: files.drop_lines.{} lists line(s) [{}], which read fine; dropped as listed"
    assert err.splitlines() == [note.format(path, "train", 4), note.format(test, "test", 3)]
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert manifest["files"]["train"]["dropped"] == {"lines": [3, 4, 5], "count": 3, "fine": [4]}
    assert manifest["files"]["test"]["dropped"] == {"lines": [3], "count": 1, "fine": [3]}
    data = prepare(
        tmp_path / "raw", PrepareConfig(splits=SplitConfig(train="all", val=2, test="all"))
    )
    assert data.counts["raw_train"] == 11 and data.counts["dropped_lines"] == 4
    ids = set(data.splits["train"]["id"]) | set(data.splits["val"]["id"])
    assert ids == {"train-2"} | {f"train-{line}" for line in range(6, 16)}
    assert data.splits["test"]["id"].tolist() == ["test-2"]


@pytest.mark.parametrize("compress", [False, True])
def test_every_text_format_drops_lines_keeping_the_others_numbers(
    tmp_path: Path, compress: bool
) -> None:
    """fastText, AG News CSV and JSONL drop lines too, a .gz file as a plain one; a line that
    is not even UTF-8 can be dropped."""
    cases: list[tuple[str, str, bytes, dict[str, Any]]] = [
        ("fasttext", "t.ft.txt", b"__label__1 a\n__label__9 b\n__label__2 caf\xe9\n", {}),
        ("agnews_csv", "t.csv", b'"1","a","b"\n"9","c","d"\n"2","caf\xe9","e"\n', {}),
        ("table", "t.jsonl", b'{"text": "a", "label": "neg"}\n{"text": 1}\n\xff\n', {}),
    ]
    for fmt, name, content, columns in cases:
        path = tmp_path / (name + (".gz" if compress else ""))
        path.write_bytes(gzip.compress(content) if compress else content)
        classes = ["World", "Sports", "Business", "Sci/Tech"] if fmt == "agnews_csv" else None
        config = DownloadConfig(
            format=fmt,
            classes=classes or ["neg", "pos"],
            source="files",
            files={"train": str(path), "drop_lines": {"train": [2, 3]}},
            columns=columns if fmt == "table" else None,
        )
        manifest = download(config, tmp_path / "raw")
        assert manifest["files"]["train"]["rows"] == 1, fmt
        assert manifest["files"]["train"]["dropped"]["fine"] == [], fmt
        frame = load_raw(path, fmt, config.classes, config.columns, [2, 3])
        assert frame["line"].tolist() == [1], fmt


def test_a_crlf_file_numbers_its_lines_as_its_errors_do(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"text,label\r\na,pos\r\nb,maybe\r\nc,neg\r\n")
    with pytest.raises(DataError, match=":3: column 'label': got 'maybe'"):
        download(table_config(path), tmp_path / "raw")
    manifest = download(table_config(path, {"train": [3]}), tmp_path / "raw")
    assert manifest["files"]["train"]["rows"] == 2


def test_a_lone_cr_is_text_so_lines_are_numbered_as_wc_counts_them(tmp_path: Path) -> None:
    """A CR inside a line used to end it: the error named line 2, and following its hint cut
    the record on line 1 short and shifted every later line number and id."""
    path = tmp_path / "train.ft.txt"
    path.write_bytes(
        b"__label__1 text with a \r carriage return\n__label__2 ok two\n__label__9 bad\n"
        b"__label__2 four\n"
    )
    test = tmp_path / "test.ft.txt"
    test.write_text("__label__1 a\n__label__2 b\n")
    files = {"train": str(path), "test": str(test)}
    config = DownloadConfig(format="fasttext", classes=["neg", "pos"], source="files", files=files)
    with pytest.raises(DataError) as error:
        download(config, tmp_path / "raw")
    message = str(error.value)
    assert f"{path}:3: column 'label': got '__label__9'" in message
    assert "1 problem(s)" in message and "{drop_lines: {train: [3]}}" in message

    config = DownloadConfig(
        format="fasttext",
        classes=["neg", "pos"],
        source="files",
        files=files | {"drop_lines": {"train": [3]}},
    )
    manifest = download(config, tmp_path / "raw")
    assert manifest["files"]["train"]["rows"] == 3
    assert manifest["files"]["train"]["dropped"]["fine"] == []
    data = prepare(
        tmp_path / "raw", PrepareConfig(splits=SplitConfig(train="all", val=1, test="all"))
    )
    rows = pd.concat([data.splits["train"], data.splits["val"]])
    texts = dict(zip(rows["id"], rows["text"], strict=True))
    assert texts == {
        "train-1": "text with a carriage return",
        "train-2": "ok two",
        "train-4": "four",
    }


# --- without drop_lines, nothing changes ---------------------------------------------------


def test_a_single_text_download_without_drop_lines_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("text\tlabel\nfine one\tpos\ngood\tneg\n")
    code, out, err = run_stage(tmp_path, table_params(path, {}))
    assert code == 0 and err == "", err
    assert out == f"amazon train: 2 rows from {path}\n"
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert manifest == {
        "format": "table",
        "classes": ["neg", "pos"],
        "columns": {
            "text": "text",
            "text_pair": None,
            "label": "label",
            "title": None,
            "labels": "names",
            "delimiter": None,
            "quoting": None,
            "multiline": False,
            "header": True,
        },
        "source": "files",
        "files": {
            "train": {
                "path": str(path),
                "origin": str(path),
                "rows": 2,
                "sha256": manifest["files"]["train"]["sha256"],
                "referenced": True,
            }
        },
    }
    ft = tmp_path / "t.ft.txt"
    ft.write_text("".join(f"__label__{i % 2 + 1} text {i}\n" for i in range(10)))
    config = DownloadConfig(
        format="fasttext", classes=["neg", "pos"], source="files", files={"train": str(ft)}
    )
    entry = download(config, tmp_path / "ft")["files"]["train"]
    assert set(entry) == {"path", "origin", "rows", "sha256", "referenced"}
    data = prepare(
        tmp_path / "ft",
        PrepareConfig(splits=SplitConfig(train="all", val=2, test=2, test_from="train")),
    )
    assert list(data.counts)[:2] == ["raw_train", "dropped_empty"]  # no dropped_lines

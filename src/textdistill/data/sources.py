"""Data sources: write a dataset's raw files, in their original format, into `data/raw/<name>/`.

- `sample`: the embedded generator (smoke data for the quick profile).
- `hub`: `datasets.load_dataset(path, name, revision=...)`, converted to the raw format.
- `files`: local raw files, referenced in place (never copied) and pinned by sha256.

Whatever the source, the raw files are parsed and validated before the directory is swapped in,
so bad data fails in `download` and never reaches `prepare`. A `manifest.json` beside the files
records their format, classes, task (pairs, regression target range), origin, sha256 and row
counts, and the lines a files source drops (`files.drop_lines`): under each part's `dropped`,
the `lines`, their `count` and those that read `fine` on their own (dropped all the same).
"""

from __future__ import annotations

import functools
import sys
import tempfile
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from textdistill.config import ColumnRef, DownloadConfig, HubSource, TableColumns
from textdistill.data import sample
from textdistill.data.formats import (
    EncodingError,
    compression_suffix,
    is_line_based,
    listed_lines,
    read_agnews_csv,
    read_fasttext,
    read_table,
    table_column_names,
    table_kind,
    table_task,
    write_agnews_csv,
    write_fasttext,
)
from textdistill.data.schemas import Task, validate_raw
from textdistill.errors import MAX_PROBLEMS_SHOWN, DataError, ParamsError
from textdistill.io import atomic_dir, read_json, resolve_in_project, sha256, write_json

MANIFEST = "manifest.json"
PARTS = ("train", "test")
# File names in data/raw/<name>/, by format; a compression suffix is appended when present.
RAW_NAMES = {"fasttext": "{part}.ft.txt", "agnews_csv": "{part}.csv", "table": "{part}{suffix}"}
SAMPLE_WRITERS: dict[str, Callable[..., None]] = {
    "fasttext": sample.write_amazon_sample,
    "agnews_csv": sample.write_agnews_sample,
}


def read_raw(
    path: Path,
    fmt: str,
    labels: Sequence[str] | Task,
    columns: TableColumns | None,
    drop_lines: Collection[int] = (),
) -> pd.DataFrame:
    """Parse one raw file of the given format into the raw table (see formats.py), leaving out
    `drop_lines` (1-based, as errors number them)."""
    if fmt == "fasttext":
        return read_fasttext(path, drop_lines)
    if fmt == "agnews_csv":
        return read_agnews_csv(path, drop_lines)
    if columns is None:
        raise DataError(f"{path}: format 'table' needs a 'columns' section (text, label)")
    return read_table(path, labels, columns, drop_lines)


def load_raw(
    path: Path,
    fmt: str,
    labels: Sequence[str] | Task,
    columns: TableColumns | None,
    drop_lines: Collection[int] = (),
    part: str = "<part>",
) -> pd.DataFrame:
    """Parse and validate a raw file: every bad row is reported with its file, line and column.

    `labels` are the class names, or the dataset's `Task` (pairs, a regression target).
    `drop_lines` are left out before validation. A few bad lines end the error with a hint:
    the files source's `drop_lines` for `part`, for a row that cannot be fixed in the file."""
    try:
        frame = read_raw(path, fmt, labels, columns, drop_lines)
        if fmt != "table" or columns is None:
            return validate_raw(frame, labels, str(path))
        names = table_column_names(columns)
        return validate_raw(frame, table_task(labels, columns), str(path), columns.labels, names)
    except DataError as error:
        hint = _drop_hint(error, path, fmt, drop_lines, part)
        if not hint:
            raise
        raise error.with_hint(hint) from None


def _drop_hint(
    error: DataError, path: Path, fmt: str, drop_lines: Collection[int], part: str
) -> str:
    """Where a few lines of a text file are bad: how to drop them, should fixing them in the
    file be impossible (many bad lines rather mean a wrong setting). None for a file in
    another encoding: converting it fixes every line (its error says how)."""
    if isinstance(error, EncodingError):
        return ""
    bad = {p.line for p in error.problems if p.file == str(path) and p.column != "drop_lines"}
    lines = sorted(line for line in bad if line is not None)
    if not lines or len(lines) > MAX_PROBLEMS_SHOWN or not is_line_based(path, fmt):
        return ""
    listed = sorted({*drop_lines, *lines})
    return (
        "hint: a row that cannot be fixed in the file can be dropped explicitly: "
        f"files: {{drop_lines: {{{part}: {listed}}}}}"
    )


def _fine_lines(
    path: Path,
    fmt: str,
    task: Task,
    columns: TableColumns | None,
    drop_lines: Collection[int],
) -> list[int]:
    """The dropped lines that parse and validate on their own: each (after the header line, for
    a delimited table that has one) read as a one-row file of the same kind."""
    header, texts = listed_lines(path, drop_lines)
    with_header = fmt == "table" and columns is not None and columns.header
    with_header = with_header and table_kind(path) != ".jsonl"  # parquet drops no lines
    fine = []
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / (path.stem if compression_suffix(path) else path.name)
        for number, text in sorted(texts.items()):
            if text is None:  # not UTF-8
                continue
            probe.write_text((header + "\n" if with_header else "") + text + "\n", "utf-8")
            try:
                load_raw(probe, fmt, task, columns)
            except DataError:
                continue
            fine.append(number)
    return fine


def download(config: DownloadConfig, out_dir: Path, dataset: str | None = None) -> dict[str, Any]:
    """Write the raw files and manifest into `out_dir` atomically; return the manifest.

    `dataset` names the params entry (`download.<dataset>`) in messages; by default the out
    dir's name, as in `data/raw/<dataset>`."""
    task = Task.from_download(config)
    with atomic_dir(out_dir) as tmp:  # tmp is named after no dataset: pass the name on
        origins = _FETCHERS[config.source](config, tmp, dataset or out_dir.name)
        listed = config.files if config.source == "files" else None  # only files drop lines
        files = {}
        for part, (path, origin) in origins.items():
            drop = listed.drop_lines.get(part, []) if listed else []
            rows = len(load_raw(path, config.format, task, config.columns, drop, part))
            # Written files are named relative to the raw dir; a referenced file keeps the path
            # as params give it (relative to the project root), so the manifest, and with it
            # DVC's hash of data/raw/<name>, is the same in every clone and queued experiment.
            name = path.name if path.parent == tmp else origin
            files[part] = {"path": name, "origin": origin, "rows": rows, "sha256": sha256(path)}
            files[part]["referenced"] = path.parent != tmp
            if drop:  # absent otherwise, so every other manifest stays as it was
                files[part]["dropped"] = _dropped(path, config, task, part, drop)
        columns = config.columns.model_dump() if config.columns else None
        manifest: dict[str, Any] = {"format": config.format, "classes": config.classes}
        manifest["columns"] = columns
        if not task.plain:  # a single-text classification's manifest stays as it was
            manifest["task"] = task.to_json()
        manifest |= {"source": config.source, "files": files}
        write_json(tmp / MANIFEST, manifest)
    return manifest


def _dropped(
    path: Path, config: DownloadConfig, task: Task, part: str, drop: list[int]
) -> dict[str, Any]:
    """The manifest's record of a part's dropped lines; a line that reads fine is dropped all
    the same (the user listed it), with a one-line note."""
    fine = _fine_lines(path, config.format, task, config.columns, drop)
    if fine:
        print(
            f"note: {path}: files.drop_lines.{part} lists line(s) {fine}, which read fine; "
            "dropped as listed",
            file=sys.stderr,
        )
    return {"lines": sorted(drop), "count": len(drop), "fine": fine}


def dropped_lines(entry: dict[str, Any]) -> list[int]:
    """The lines a manifest's file entry says were dropped (none for most files)."""
    return list(entry.get("dropped", {}).get("lines", []))


def raw_files(raw_dir: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """The manifest of a downloaded dataset and the path of each of its parts."""
    manifest_path = raw_dir / MANIFEST
    if not manifest_path.is_file():
        raise DataError(f"{manifest_path} not found: run the download stage first")
    manifest = read_json(manifest_path)
    paths = {}
    for part, entry in manifest["files"].items():
        path = (
            resolve_in_project(entry["path"])
            if entry.get("referenced")
            else raw_dir / entry["path"]
        )
        if not path.is_file():
            raise DataError(
                f"raw file not found: {path}; rerun download (dvc repro -f download@...)"
            )
        if sha256(path) != entry["sha256"]:
            raise DataError(
                f"{path} changed since it was downloaded (sha256 {sha256(path)[:12]}..., "
                f"manifest {entry['sha256'][:12]}...); rerun it: dvc repro -f download@{raw_dir.name}"
            )
        paths[part] = path
    return manifest, paths


def raw_name(config: DownloadConfig, part: str, suffix: str = "") -> str:
    """`train.ft.txt`, `test.csv.gz`, `train.parquet`: the original format's usual name."""
    if config.format == "table":
        return RAW_NAMES["table"].format(part=part, suffix=suffix)
    return RAW_NAMES[config.format].format(part=part) + suffix


# --- sources -------------------------------------------------------------------------------

Fetched = dict[str, tuple[Path, str]]  # part -> (written file, where it came from)
# Each fetcher writes into (or, for files, references from) the temporary raw dir; it is given
# the dataset's name for its messages.


def _from_sample(config: DownloadConfig, out_dir: Path, dataset: str) -> Fetched:
    assert config.sample is not None
    seed = config.sample.seed
    kind = config.sample.kind
    if kind is not None:
        _check_pair_sample(config, kind)
        writer: Callable[..., None] = functools.partial(sample.write_pair_sample, task=kind)
    else:
        writer = SAMPLE_WRITERS[config.format]
    sizes = {"train": config.sample.train_rows, "test": config.sample.test_rows}
    fetched = {}
    # Distinct seeds per part, so the test file is not a prefix of the train file.
    for offset, part in enumerate(PARTS):
        path = out_dir / raw_name(config, part, ".tsv")
        writer(path, sizes[part], seed=seed * 2 + offset, label_noise=config.sample.label_noise)
        fetched[part] = (path, f"textdistill sample generator, seed {seed * 2 + offset}")
    return fetched


def _check_pair_sample(config: DownloadConfig, kind: sample.PairTask) -> None:
    """The sample's own keys are the only way to read its file: say which differ."""
    given = config.model_dump()
    wrong = {}
    for key, value in sample.pair_sample_params(kind).items():
        if key == "columns":
            columns = given["columns"] or {}
            differs = any(columns.get(name) != ref for name, ref in value.items())
        else:
            differs = given.get(key) != value
        if differs:
            wrong[key] = value
    if wrong:
        raise ParamsError(
            f"params.yaml: a download with sample.kind {kind} needs these keys to read the "
            f"sample's table: {wrong} (textdistill.data.sample.pair_sample_params)"
        )


def _from_files(config: DownloadConfig, out_dir: Path, dataset: str) -> Fetched:
    """Reference local files in place (no copy of a large corpus); prepare checks their sha256."""
    assert config.files is not None
    fetched = {}
    for part in PARTS:
        name = getattr(config.files, part)
        if name is None:
            continue
        source = resolve_in_project(name)
        if not source.is_file():
            raise DataError(
                f"raw file not found: {source} (download.{dataset}.files.{part}: {name!r}; "
                "a relative path is read from the project root)"
            )
        fetched[part] = (source, name)
    return fetched


def _from_hub(config: DownloadConfig, out_dir: Path, dataset: str) -> Fetched:
    assert config.hub is not None
    hub = config.hub
    fetched = {}
    for part, split in (("train", hub.train_split), ("test", hub.test_split)):
        frame = load_hub_split(hub, split)
        path = out_dir / raw_name(config, part, ".parquet" if config.format == "table" else "")
        write_hub_frame(frame, config, hub, path)
        fetched[part] = (path, f"{hub.path}@{hub.revision}:{hub.name or 'default'}/{split}")
    return fetched


def load_hub_split(hub: HubSource, split: str) -> pd.DataFrame:
    """`datasets.load_dataset` at the pinned revision; `path` may also be a local data dir."""
    import datasets  # heavy: imported only when the hub source is used

    try:
        dataset = datasets.load_dataset(hub.path, hub.name, revision=hub.revision, split=split)
    except Exception as error:  # the hub raises many types; all mean "could not fetch"
        raise DataError(
            f"cannot load {hub.path!r} (revision {hub.revision}, split {split!r}) with "
            f"datasets.load_dataset: {type(error).__name__}: {error}. Offline? Use source: files."
        ) from error
    frame = dataset.to_pandas()
    missing = [
        f for f in (hub.text_field, hub.label_field, hub.title_field) if f and f not in frame
    ]
    if missing:
        raise DataError(
            f"{hub.path} split {split!r} has no field(s) {missing}; it has {list(frame)}"
        )
    return frame


def write_hub_frame(
    frame: pd.DataFrame, config: DownloadConfig, hub: HubSource, path: Path
) -> None:
    """Write hub rows in the dataset's raw format (0-based hub labels become 1-based)."""
    bodies = frame[hub.text_field].astype(str).tolist()
    titles = frame[hub.title_field].astype(str).tolist() if hub.title_field else [""] * len(frame)
    if config.task == "regression":  # a table (config checks it): the target as the number it is
        targets = frame[hub.label_field].astype("float64").tolist()
        _write_hub_table(path, config, targets, bodies, titles)
        return
    labels = frame[hub.label_field].astype("int64").tolist()
    if config.format == "fasttext":
        texts = [f"{t}: {b}" if t else b for t, b in zip(titles, bodies, strict=True)]
        write_fasttext(path, labels, texts)
    elif config.format == "agnews_csv":
        write_agnews_csv(path, labels, titles, bodies)
    else:
        # Written in the scheme the reader is told to expect (an id beyond `classes` is kept,
        # so the reader names it instead of this code failing on it).
        names = [config.classes[i] if 0 <= i < len(config.classes) else str(i) for i in labels]
        assert config.columns is not None
        written = names if config.columns.labels == "names" else labels
        _write_hub_table(path, config, written, bodies, titles)


def _write_hub_table(
    path: Path, config: DownloadConfig, labels: list[Any], bodies: list[str], titles: list[str]
) -> None:
    columns = config.columns
    assert columns is not None
    table: dict[ColumnRef, list[Any]] = {columns.text: bodies, columns.label: labels}
    if columns.title:
        table[columns.title] = titles
    pd.DataFrame(table).to_parquet(path, index=False)


_FETCHERS: dict[str, Callable[[DownloadConfig, Path, str], Fetched]] = {
    "sample": _from_sample,
    "files": _from_files,
    "hub": _from_hub,
}

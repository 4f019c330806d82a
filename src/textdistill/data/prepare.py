"""The prepare stage's logic: raw files -> cleaned, de-duplicated, validated, stratified splits.

Row ids are `<part>-<line>` (e.g. `train-1234` is line 1234 of the raw train file), so any
prepared row can be traced back to the raw line it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from textdistill.config import PrepareConfig, TableColumns
from textdistill.data.clean import (
    CleaningReport,
    clean_texts,
    drop_duplicates,
    drop_empty,
    drop_seen,
)
from textdistill.data.report import data_metrics, render_report, row_counts
from textdistill.data.schemas import PREPARED_COLUMNS, validate_prepared
from textdistill.data.sources import load_raw, raw_files
from textdistill.data.split import SPLITS, make_splits
from textdistill.errors import DataError
from textdistill.io import atomic_dir, read_json, write_json

CLASSES_FILE = "classes.json"


@dataclass
class PreparedData:
    classes: list[str]
    splits: dict[str, pd.DataFrame]
    counts: dict[str, int]
    cleaning: CleaningReport

    def metrics(self) -> dict:
        # A count, flat for `dvc metrics diff`: which classes are absent is in the report.
        absent = {"absent_classes": len(class_warnings(self))}
        return data_metrics(self.splits, self.classes, self.counts, self.cleaning) | absent

    def rows(self) -> dict[str, int]:
        return row_counts(self.splits, self.counts)


def load_pools(raw_dir: Path) -> tuple[list[str], dict[str, pd.DataFrame]]:
    """Parse and validate each raw part; return the class names and a frame per part."""
    manifest, paths = raw_files(raw_dir)
    classes = manifest["classes"]
    columns = TableColumns(**manifest["columns"]) if manifest.get("columns") else None
    pools = {}
    for part, path in paths.items():
        frame = load_raw(path, manifest["format"], classes, columns)
        ids = part + "-" + frame["line"].astype(str)
        pools[part] = pd.DataFrame({"id": ids, "text": frame["text"], "label": frame["label"]})
    return classes, pools


def prepare(raw_dir: Path, config: PrepareConfig) -> PreparedData:
    """Clean every pool, drop empty and duplicate texts and test texts from train, then split."""
    classes, pools = load_pools(raw_dir)
    counts = {f"raw_{part}": len(pool) for part, pool in pools.items()}
    # One cleaning pass over all parts, so the report describes the whole corpus.
    everything = pd.concat(pools.values(), keys=list(pools), names=["part", None])
    cleaned, cleaning = clean_texts(everything["text"], config.clean)
    for part in pools:
        pools[part] = pools[part].assign(text=cleaned.loc[part].to_numpy())
    dropped = {"dropped_empty": 0, "dropped_duplicate": 0, "dropped_in_test": 0}
    for part, pool in pools.items():
        pool, empty = drop_empty(pool)
        pool, duplicates = drop_duplicates(pool)
        pools[part] = pool
        dropped["dropped_empty"] += empty
        dropped["dropped_duplicate"] += duplicates
    if "test" in pools and config.splits.test_from == "test":
        # A train text that also appears in the test file would leak; the test file wins.
        pools["train"], dropped["dropped_in_test"] = drop_seen(
            pools["train"], pools["test"]["text"]
        )
    splits = make_splits(pools["train"], pools.get("test"), config.splits, config.splits.seed)
    splits = {name: _finish(frame, classes, name) for name, frame in splits.items()}
    return PreparedData(classes, splits, counts | dropped, cleaning)


def class_warnings(data: PreparedData) -> list[str]:
    """Classes a split lacks (a warning: its per-class scores are undefined); a training split
    with a single class is an error, since no classifier can learn from it."""
    present = {name: set(frame["label"]) for name, frame in data.splits.items()}
    if len(present["train"]) < 2:
        only = [data.classes[i] for i in sorted(present["train"])]
        raise DataError(
            f"the train split holds a single class {only} of {data.classes}: a classifier needs "
            "at least two; check the label column and the classes in params"
        )
    return [
        f"class {data.classes[i]!r} is absent from the {name} split"
        for name, labels in present.items()
        for i in range(len(data.classes))
        if i not in labels
    ]


def _finish(frame: pd.DataFrame, classes: list[str], split: str) -> pd.DataFrame:
    frame = frame.sort_values("id", key=_id_order).reset_index(drop=True)
    frame = frame.assign(
        label=frame["label"].astype("int64"),
        label_name=frame["label"].map(dict(enumerate(classes))),
    )
    return validate_prepared(frame[PREPARED_COLUMNS], classes, split)


def _id_order(ids: pd.Series) -> pd.Series:
    # Order rows as in the raw files (train-9 before train-10), not lexicographically.
    return ids.str.rsplit("-", n=1).str[1].astype("int64")


def write_prepared(data: PreparedData, out_dir: Path) -> None:
    """Write the splits and class names as one atomic directory swap."""
    with atomic_dir(out_dir) as tmp:
        for name in SPLITS:
            data.splits[name].to_parquet(tmp / f"{name}.parquet", index=False)
        write_json(tmp / CLASSES_FILE, data.classes)


def report(dataset: str, data: PreparedData, pattern: str) -> str:
    """The data report, ending with the class warnings the stage printed (they scroll away)."""
    text = render_report(dataset, data.metrics(), data.cleaning, pattern)
    warnings = class_warnings(data)
    if warnings:
        text += "\n## Warnings\n\n" + "".join(f"- {warning}\n" for warning in warnings)
    return text


def read_prepared(data_dir: Path) -> tuple[list[str], dict[str, pd.DataFrame]]:
    """The class names and the train/val/test frames written by `write_prepared`."""
    if not (data_dir / CLASSES_FILE).is_file():
        raise DataError(f"{data_dir} holds no prepared dataset; run the prepare stage first")
    classes = read_json(data_dir / CLASSES_FILE)
    return classes, {name: pd.read_parquet(data_dir / f"{name}.parquet") for name in SPLITS}

"""The prepare stage's logic: raw files -> cleaned, de-duplicated, validated, stratified splits.

Row ids are `<part>-<line>` (e.g. `train-1234` is line 1234 of the raw train file), so any
prepared row can be traced back to the raw line it came from.

A prepared dataset is `train/val/test.parquet` and `classes.json` (the class names; empty for
a regression target); a dataset of sentence pairs or with a regression target also has
`task.json` (see `Task`), so a single-text classification's directory is what it always was.
The training stages read single-text classification only (`read_prepared`); the pair and
regression tasks of issue 15 read any task with `read_prepared_task`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from textdistill.config import PrepareConfig, TableColumns
from textdistill.data.clean import (
    CleaningReport,
    clean_pools,
    drop_duplicates,
    drop_empty,
    drop_seen,
    label_conflicts,
)
from textdistill.data.report import data_metrics, render_report, row_counts
from textdistill.data.schemas import Task, validate_prepared
from textdistill.data.sources import dropped_lines, load_raw, raw_files
from textdistill.data.split import SPLITS, make_splits
from textdistill.errors import DataError
from textdistill.io import atomic_dir, read_json, write_json

CLASSES_FILE = "classes.json"
TASK_FILE = "task.json"
# Texts that occur more than once with different labels (a count in the metrics and rows).
LABEL_CONFLICTS = "duplicate_label_conflicts"


@dataclass
class PreparedData:
    task: Task
    splits: dict[str, pd.DataFrame]
    counts: dict[str, int]
    cleaning: CleaningReport

    @property
    def classes(self) -> list[str]:
        return list(self.task.classes)

    def metrics(self) -> dict:
        metrics = data_metrics(self.splits, self.task, self.counts, self.cleaning)
        if self.task.regression:
            return metrics
        # A count, flat for `dvc metrics diff`: which classes are absent is in the report.
        return metrics | {"absent_classes": len(class_warnings(self))}

    def rows(self) -> dict[str, int]:
        return row_counts(self.splits, self.counts)


def load_pools(raw_dir: Path) -> tuple[Task, dict[str, pd.DataFrame], int]:
    """Parse and validate each raw part, leaving out the lines the download dropped; return the
    dataset's task, a frame per part and how many lines were dropped."""
    manifest, paths = raw_files(raw_dir)
    task = Task.from_json(manifest["classes"], manifest.get("task"))
    columns = TableColumns(**manifest["columns"]) if manifest.get("columns") else None
    pools = {}
    dropped = 0
    for part, path in paths.items():
        drop = dropped_lines(manifest["files"][part])
        frame = load_raw(path, manifest["format"], task, columns, drop, part)
        dropped += len(drop)
        ids = part + "-" + frame["line"].astype(str)
        texts = {name: frame[name] for name in task.text_columns}
        pools[part] = pd.DataFrame({"id": ids, **texts, "label": frame["label"]})
    return task, pools, dropped


def prepare(raw_dir: Path, config: PrepareConfig) -> PreparedData:
    """Clean every pool, drop empty and duplicate examples and test examples from train, then
    split. Of a pair, both texts are cleaned, and an example is the pair (text, text_pair).

    Lines the download dropped (`files.drop_lines`) are counted as `dropped_lines`, beside the
    raw counts, where there are any."""
    task, pools, dropped_raw = load_pools(raw_dir)
    texts = task.text_columns
    counts = {f"raw_{part}": len(pool) for part, pool in pools.items()}
    if dropped_raw:
        counts["dropped_lines"] = dropped_raw
    pools, cleaning = clean_pools(pools, texts, config.clean)
    dropped = {"dropped_empty": 0, "dropped_duplicate": 0, LABEL_CONFLICTS: 0, "dropped_in_test": 0}
    for part, pool in pools.items():
        pool, empty = drop_empty(pool, texts)
        dropped[LABEL_CONFLICTS] += label_conflicts(pool, texts)
        pool, duplicates = drop_duplicates(pool, texts)
        pools[part] = pool
        dropped["dropped_empty"] += empty
        dropped["dropped_duplicate"] += duplicates
    if "test" in pools and config.splits.test_from == "test":
        # A train example that also appears in the test file would leak; the test file wins.
        pools["train"], dropped["dropped_in_test"] = drop_seen(pools["train"], pools["test"], texts)
    splits = make_splits(pools["train"], pools.get("test"), config.splits, config.splits.seed)
    splits = {name: _finish(frame, task, name) for name, frame in splits.items()}
    return PreparedData(task, splits, counts | dropped, cleaning)


def class_warnings(data: PreparedData) -> list[str]:
    """Classes a split lacks (a warning: its per-class scores are undefined); a training split
    with a single class is an error, since no classifier can learn from it. Likewise a constant
    regression target in train is an error (and a regression task has no classes to lack)."""
    if data.task.regression:
        _check_target_varies(data.splits["train"]["label"])
        return []
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


def _check_target_varies(targets: pd.Series) -> None:
    if targets.nunique() < 2:
        raise DataError(
            f"the train split's regression target is constant ({targets.iloc[0]:g} in every "
            "row): a regressor needs at least two values; check the label column"
        )


def _finish(frame: pd.DataFrame, task: Task, split: str) -> pd.DataFrame:
    frame = frame.sort_values("id", key=_id_order).reset_index(drop=True)
    if task.regression:
        frame = frame.assign(label=frame["label"].astype("float64"))
    else:
        frame = frame.assign(
            label=frame["label"].astype("int64"),
            label_name=frame["label"].map(dict(enumerate(task.classes))),
        )
    return validate_prepared(frame[task.prepared_columns()], task, split)


def _id_order(ids: pd.Series) -> pd.Series:
    # Order rows as in the raw files (train-9 before train-10), not lexicographically.
    return ids.str.rsplit("-", n=1).str[1].astype("int64")


def write_prepared(data: PreparedData, out_dir: Path) -> None:
    """Write the splits, the class names and (pairs, regression) the task, as one atomic
    directory swap."""
    with atomic_dir(out_dir) as tmp:
        for name in SPLITS:
            data.splits[name].to_parquet(tmp / f"{name}.parquet", index=False)
        write_json(tmp / CLASSES_FILE, data.classes)
        if not data.task.plain:
            write_json(tmp / TASK_FILE, data.task.to_json())


def data_warnings(data: PreparedData) -> list[str]:
    """What the stage warns about: classes a split lacks, and duplicated texts whose copies
    disagree on the label (the first copy's label was kept, silently otherwise)."""
    warnings = class_warnings(data)
    conflicts = data.counts.get(LABEL_CONFLICTS, 0)
    if conflicts:
        warnings.append(
            f"{conflicts:,} text(s) occur more than once with different labels; the first "
            "occurrence's label was kept (check the label column, or clean the file)"
        )
    return warnings


def report(dataset: str, data: PreparedData, pattern: str) -> str:
    """The data report, ending with the warnings the stage printed (they scroll away)."""
    text = render_report(dataset, data.metrics(), data.cleaning, pattern, data.task.pair)
    warnings = data_warnings(data)
    if warnings:
        text += "\n## Warnings\n\n" + "".join(f"- {warning}\n" for warning in warnings)
    return text


def read_task(data_dir: Path) -> Task:
    """The task of a prepared dataset (its classes, or a regression target; pairs or not),
    without reading its splits."""
    if not (data_dir / CLASSES_FILE).is_file():
        raise DataError(f"{data_dir} holds no prepared dataset; run the prepare stage first")
    extra = read_json(data_dir / TASK_FILE) if (data_dir / TASK_FILE).is_file() else None
    return Task.from_json(read_json(data_dir / CLASSES_FILE), extra)


def read_prepared_task(data_dir: Path) -> tuple[Task, dict[str, pd.DataFrame]]:
    """The task and the train/val/test frames written by `write_prepared`, of any task."""
    task = read_task(data_dir)
    return task, {name: pd.read_parquet(data_dir / f"{name}.parquet") for name in SPLITS}


def read_prepared(data_dir: Path) -> tuple[list[str], dict[str, pd.DataFrame]]:
    """The class names and the train/val/test frames of a single-text classification dataset,
    what every training stage reads; pairs or a regression target are refused, not read as
    if their second text or float target were absent."""
    task, splits = read_prepared_task(data_dir)
    require_single_text_classification(task, data_dir)
    return list(task.classes), splits


def require_single_text_classification(task: Task, where: Path | str) -> None:
    """Refuse a dataset this stage would silently misread (its second text ignored, its float
    target taken for a class)."""
    if not task.plain:
        raise DataError(
            f"{where} holds {task.describe()}: pairs/regression are supported by the multitask "
            "fine-tuning only (see issue 15); this stage reads single-text classification data"
        )

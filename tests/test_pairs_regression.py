"""Sentence pairs and regression targets in the data layer (issue 15, item 1): table options,
parsing, located errors, binned splits, prepared tables, reports, the pair sample, and the real
minBERT files read through the same reader."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from textdistill.config import DownloadConfig, PrepareConfig, SplitConfig, TableColumns
from textdistill.data.clean import drop_duplicates, drop_seen
from textdistill.data.formats import read_table
from textdistill.data.prepare import (
    TASK_FILE,
    prepare,
    read_prepared,
    read_prepared_task,
    report,
    write_prepared,
)
from textdistill.data.sample import (
    PARAPHRASE_CLASSES,
    SIMILARITY_RANGE,
    PairTask,
    pair_sample_params,
    write_pair_sample,
)
from textdistill.data.schemas import PREPARED_COLUMNS, Task, validate_prepared
from textdistill.data.sources import download, load_raw, write_hub_frame
from textdistill.data.split import TARGET_BINS, class_quotas, make_splits, strata
from textdistill.errors import DataError

REPO = Path(__file__).resolve().parents[1]
MINBERT = REPO.parent / "shared" / "data" / "minbert"
STS = Task(target_range=(0.0, 5.0), pair=True)
PAIR_COLUMNS = {"text": "sentence1", "text_pair": "sentence2", "label": "score"}


def regression(**columns: Any) -> tuple[Task, TableColumns]:
    return STS, TableColumns(**(PAIR_COLUMNS | columns))


def located(error: pytest.ExceptionInfo[DataError]) -> str:
    return str(error.value)


# --- params --------------------------------------------------------------------------------


def config(**keys: Any) -> DownloadConfig:
    base: dict[str, Any] = {"format": "table", "source": "files", "files": {"train": "t.tsv"}}
    return DownloadConfig(**(base | keys))


def test_regression_and_pair_params_are_read() -> None:
    sts = config(task="regression", target_range=[0, 5], columns=PAIR_COLUMNS)
    assert Task.from_download(sts) == STS
    quora = config(classes=["0.0", "1.0"], columns=PAIR_COLUMNS | {"label": "is_duplicate"})
    assert Task.from_download(quora) == Task(("0.0", "1.0"), None, pair=True)
    plain = config(classes=["a", "b"], columns={})
    assert Task.from_download(plain).plain  # every existing params file reads as before


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"task": "regression", "target_range": [0, 5], "classes": ["a", "b"]}, "takes no classes"),
        ({"task": "regression"}, "needs target_range: [low, high]"),
        (
            {"task": "regression", "target_range": [0, 5], "columns": {"labels": "ids"}},
            "says how class labels are written, and task: regression reads a number",
        ),
        ({"task": "regression", "target_range": [5, 0]}, "low < high"),
        ({"task": "regression", "target_range": [0, 1, 2]}, "needs target_range: [low, high]"),
        ({"task": "regression", "target_range": [0, float("inf")]}, "finite number"),
        ({"task": "regression", "target_range": ["0", 5]}, "valid number"),
        ({"classes": ["a", "b"], "target_range": [0, 5]}, "target_range is for task: regression"),
        ({"classes": ["a"]}, "needs at least 2 names in classes"),
        ({}, "needs at least 2 names in classes"),
        ({"task": "ranking", "classes": ["a", "b"]}, "'classification' or 'regression'"),
        (
            {"classes": ["a", "b"], "columns": {"text": "q", "text_pair": "q"}},
            "text, text_pair, label and title must be different columns",
        ),
        (
            {"classes": ["a", "b"], "columns": {"header": False, "text": 0, "text_pair": "q"}},
            "text_pair must be a 0-based column position",
        ),
        (
            {"task": "regression", "target_range": [0, 1], "format": "fasttext"},
            "need format: table",
        ),
        (
            {"classes": ["a", "b"], "columns": PAIR_COLUMNS, "source": "hub"}
            | {"hub": {"path": "x", "revision": "r"}},
            "for pairs use files",
        ),
    ],
)
def test_bad_task_params_say_what_to_change(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config(**keys)


# --- reading -------------------------------------------------------------------------------


def write_table(path: Path, frame: pd.DataFrame) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_csv(path, sep="\t" if path.suffix == ".tsv" else ",", index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_pair_table_with_header(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame(
        {
            "id": [7, 8],
            "sentence1": ["How do I fix a bike?", 'say "hi"'],
            "sentence2": ["How can I repair a bicycle?", "a, b"],
            "is_duplicate": ["1.0", "0.0"],
        }
    )
    path = write_table(tmp_path / f"t{suffix}", frame)
    quoting = {"quoting": "minimal"} if suffix == ".tsv" else {}  # as pandas writes quotes
    columns = TableColumns(**(PAIR_COLUMNS | {"label": "is_duplicate"} | quoting))
    result = load_raw(path, "table", ["0.0", "1.0"], columns)
    assert list(result.columns) == ["file", "line", "raw_label", "label", "text", "text_pair"]
    assert result["text"].tolist() == frame["sentence1"].tolist()
    assert result["text_pair"].tolist() == frame["sentence2"].tolist()
    assert result["label"].tolist() == [1, 0]


def test_pair_table_by_position_with_a_title(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("0|Title|first text|second text\n1|T2|one|two\n")
    columns = TableColumns(
        header=False, delimiter="|", label=0, title=1, text=2, text_pair=3, labels="ids"
    )
    result = load_raw(path, "table", ["no", "yes"], columns)
    assert result["text"].tolist() == ["Title: first text", "T2: one"]
    assert result["text_pair"].tolist() == ["second text", "two"]
    assert result["label"].tolist() == [0, 1] and result["line"].tolist() == [1, 2]


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl", ".parquet"])
def test_regression_targets_are_read_as_floats(tmp_path: Path, suffix: str) -> None:
    scores: list[Any] = ["4.6", "0", "5.0", "1e0", ".5", "+2.25"]
    if suffix != ".tsv":  # JSON and parquet hold numbers; a string holding one reads too
        scores = (
            [4.6, 0, 5.0, 1.0, 0.5, "+2.25"] if suffix == ".jsonl" else [4.6, 0, 5, 1, 0.5, 2.25]
        )
    frame = pd.DataFrame(
        {"sentence1": list("abcdef"), "sentence2": list("ghijkl"), "score": scores}
    )
    result = load_raw(write_table(tmp_path / f"t{suffix}", frame), "table", *regression())
    assert result["label"].dtype == "float64"
    assert result["label"].tolist() == [4.6, 0.0, 5.0, 1.0, 0.5, 2.25]


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("5.5", "'5.5'"),
        ("-0.1", "'-0.1'"),
        ("abc", "'abc'"),
        ("nan", "'nan'"),
        ("inf", "'inf'"),
        ("", "''"),
        ("1_0", "'1_0'"),
        ("٣", "'٣'"),
        ("1e999", "'1e999'"),
    ],
)
def test_bad_target_names_file_line_column_value_and_range(
    tmp_path: Path, cell: str, shown: str
) -> None:
    path = tmp_path / "sts.tsv"
    path.write_text(f"sentence1\tsentence2\tscore\na\tb\t3.2\nc\td\t{cell}\n")
    with pytest.raises(DataError) as error:
        load_raw(path, "table", *regression())
    expected = f"{path}:3: column 'score': got {shown}, expected a number in [0, 5] (target_range)"
    assert expected in located(error)
    assert "1 problem(s)" in located(error)


def test_null_and_boolean_targets_in_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    rows = [{"sentence1": "a", "sentence2": "b", "score": value} for value in (1.5, None, True)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(DataError) as error:
        load_raw(path, "table", *regression())
    assert f"{path}:2: column 'score': got None, expected a number, not null" in located(error)
    assert (
        f"{path}:3: column 'score': got True, expected a number (a number or a string holding one)"
        in (located(error))
    )


def test_missing_or_empty_second_text_is_located(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text("sentence1\tsentence2\tscore\na\tb\t1\nc\t \t2\ne\t\t3\n")
    with pytest.raises(DataError) as error:
        load_raw(path, "table", *regression())
    message = located(error)
    assert f"{path}:3: column 'sentence2': got ' ', expected non-empty text" in message
    assert f"{path}:4: column 'sentence2': got '', expected non-empty text" in message
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text(
        '{"sentence1": "a", "score": 1}\n{"sentence1": "a", "sentence2": null, "score": 1}\n'
    )
    with pytest.raises(DataError) as error:
        load_raw(jsonl, "table", *regression())
    assert f"{jsonl}:1: column 'sentence2': got None, expected a 'sentence2' key" in located(error)
    assert f"{jsonl}:2: column 'sentence2': got None, expected a text, not null" in located(error)


def test_positional_columns_are_named_by_position_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("a\t\t9\n")
    columns = TableColumns(header=False, text=0, text_pair=1, label=2)
    with pytest.raises(DataError) as error:
        load_raw(path, "table", STS, columns)
    assert f"{path}:1: column '#1': got ''" in located(error)
    assert f"{path}:1: column '#2': got '9', expected a number in [0, 5]" in located(error)


def test_a_pair_table_missing_its_second_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("sentence1,score\na,1\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['sentence2'\]"):
        read_table(path, STS, TableColumns(**PAIR_COLUMNS))


def test_hub_regression_rows_are_written_as_numbers(tmp_path: Path) -> None:
    hub = {"path": "x", "revision": "r", "label_field": "score"}
    cfg = DownloadConfig(
        format="table",
        task="regression",
        target_range=[0, 5],
        source="hub",
        hub=hub,
        columns={"label": "score"},
    )
    path = tmp_path / "train.parquet"
    write_hub_frame(pd.DataFrame({"text": ["a", "b"], "score": [4.25, 0.0]}), cfg, cfg.hub, path)
    task = Task.from_download(cfg)
    assert load_raw(path, "table", task, cfg.columns)["label"].tolist() == [4.25, 0.0]


# --- splits and de-duplication -------------------------------------------------------------


def regression_pool(n: int, rng: np.random.Generator, prefix: str = "train") -> pd.DataFrame:
    # Skewed, with many ties (as similarity scores are: lots of 0s and 5s).
    target = np.round(np.clip(rng.gamma(1.5, 1.2, size=n), 0, 5), 1)
    target[rng.random(n) < 0.1] = 5.0
    return pd.DataFrame(
        {
            "id": [f"{prefix}-{i}" for i in range(n)],
            "text": [f"{prefix} {i}" for i in range(n)],
            "text_pair": [f"other {i}" for i in range(n)],
            "label": target,
        }
    )


def test_strata_are_equal_frequency_bins_of_the_target() -> None:
    target = pd.Series([5.0] * 30 + [0.0] * 50 + list(np.linspace(0, 5, 20)))
    bins = strata(target)
    assert np.bincount(bins).tolist() == [10] * TARGET_BINS  # ties split, bins stay equal
    order = np.argsort(target.to_numpy(), kind="stable")
    assert (np.diff(bins[order]) >= 0).all()  # bins follow the target's order
    assert strata(pd.Series([2.0, 1.0, 3.0])).tolist() == [0, 0, 0]  # tiny: one bin
    assert strata(pd.Series([2.0, 1.0, 3.0, 0.5])).tolist() == [1, 0, 1, 0]
    labels = pd.Series([3, 1, 1, 0], dtype="int64")
    assert strata(labels).tolist() == [3, 1, 1, 0]  # classes stay classes


def test_binned_regression_split_keeps_the_distribution_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    pool = regression_pool(3000, rng)
    split_config = SplitConfig(train=2000, val=500, test=500, test_from="train")
    splits = make_splits(pool, None, split_config, seed=3)
    assert {k: len(v) for k, v in splits.items()} == {"train": 2000, "val": 500, "test": 500}
    # The test split takes each bin's exact share, so its quantiles follow the pool's.
    expected = class_quotas(np.bincount(strata(pool["label"])), 500)
    test_bins = strata(pool["label"])[pool["id"].isin(splits["test"]["id"]).to_numpy()]
    assert np.bincount(test_bins).tolist() == expected.tolist()
    for frame in splits.values():
        assert abs(frame["label"].mean() - pool["label"].mean()) < 0.05
        quantiles = np.quantile(frame["label"], [0.1, 0.5, 0.9])
        assert np.allclose(quantiles, np.quantile(pool["label"], [0.1, 0.5, 0.9]), atol=0.15)
    again = make_splits(pool, None, split_config, seed=3)
    assert all(again[k]["id"].tolist() == splits[k]["id"].tolist() for k in splits)
    other = make_splits(pool, None, split_config, seed=4)
    assert other["test"]["id"].tolist() != splits["test"]["id"].tolist()


def test_tiny_regression_pool_still_splits() -> None:
    pool = regression_pool(7, np.random.default_rng(1))
    splits = make_splits(pool, None, SplitConfig(train="all", val=2, test=2, test_from="train"), 0)
    assert [len(splits[k]) for k in ("train", "val", "test")] == [3, 2, 2]


def test_a_pair_is_one_example_for_duplicates_and_leaks() -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "text": ["q", "q", "q", "r"],
            "text_pair": ["x", "y", "x", "x"],
            "label": [0, 1, 1, 0],
        }
    )
    pair = ("text", "text_pair")
    kept, dropped = drop_duplicates(frame, pair)
    assert kept["id"].tolist() == ["a", "b", "d"] and dropped == 1  # same text, other pair stays
    test = pd.DataFrame({"text": ["q", "r"], "text_pair": ["y", "z"]})
    rest, leaked = drop_seen(kept, test, pair)
    assert rest["id"].tolist() == ["a", "d"] and leaked == 1


# --- prepared tables, reports, refusal -----------------------------------------------------


def test_prepared_columns_per_task() -> None:
    assert Task(("a", "b")).prepared_columns() == PREPARED_COLUMNS  # unchanged
    assert Task(("a", "b"), pair=True).prepared_columns() == [
        "id",
        "text",
        "text_pair",
        "label",
        "label_name",
    ]
    assert STS.prepared_columns() == ["id", "text", "text_pair", "label"]
    assert Task(target_range=(0, 1)).prepared_columns() == ["id", "text", "label"]


def test_prepared_schema_for_pairs_and_regression() -> None:
    frame = pd.DataFrame(
        {
            "id": ["train-2", "train-3", "train-4"],
            "text": ["a", "b", "c"],
            "text_pair": ["x", "", "z"],
            "label": [0.5, 5.0, 7.5],
        }
    )
    with pytest.raises(DataError) as error:
        validate_prepared(frame, STS, "train")
    message = located(error)
    assert "train split, id train-3: column 'text_pair': got '', expected non-empty text" in message
    assert "train split, id train-4: column 'label': got 7.5, expected [0, 5]" in message
    with pytest.raises(DataError, match="got 'label_name', expected column_in_schema"):
        validate_prepared(frame.assign(label_name="x"), STS, "train")  # strict: no stray column
    good = frame.iloc[[0]]
    assert validate_prepared(good, STS, "train").equals(good)


def download_sample(tmp_path: Path, task: PairTask, rows: int, seed: int) -> Path:
    """Write a pair sample as train and test files and download them as a `files` source."""
    for part, offset in (("train", 0), ("test", 1)):
        write_pair_sample(tmp_path / f"{part}.tsv", rows, seed + offset, task)
    files = {"train": str(tmp_path / "train.tsv"), "test": str(tmp_path / "test.tsv")}
    cfg = DownloadConfig(**pair_sample_params(task), source="files", files=files)
    download(cfg, tmp_path / "raw")
    return tmp_path / "raw"


@pytest.mark.parametrize("task", ["paraphrase", "similarity"])
def test_prepare_pairs_end_to_end(tmp_path: Path, task: PairTask) -> None:
    raw = download_sample(tmp_path, task, 400, seed=5)
    manifest = json.loads((raw / "manifest.json").read_text())
    regression_task = task == "similarity"
    assert manifest["task"] == (
        {"task": "regression", "pair": True, "target_range": [0.0, 5.0]}
        if regression_task
        else {"task": "classification", "pair": True}
    )
    prepare_config = PrepareConfig(
        splits=SplitConfig(train="all", val=60, test=80), clean={"lowercase": True}
    )
    data = prepare(raw, prepare_config)
    train = data.splits["train"]
    assert list(train.columns) == data.task.prepared_columns()
    assert train["label"].dtype == ("float64" if regression_task else "int64")
    assert not train["text_pair"].str.contains(r"[A-Z?]").any()  # the second text is cleaned too
    assert data.counts["dropped_duplicate"] > 0  # the sample repeats ~1 % of its pairs
    metrics = data.metrics()
    if regression_task:
        assert set(metrics["target"]["test"]) == {"mean", "std", "min", "max"}
        assert 0 <= metrics["target"]["train"]["min"] < metrics["target"]["train"]["max"] <= 5
        assert "class_balance" not in metrics and "absent_classes" not in metrics
    else:
        assert set(metrics["class_balance"]["val"]) == set(PARAPHRASE_CLASSES)
    # Token lengths are those of the encoded pair: longer than either text alone.
    assert metrics["tokens"]["train"]["p50"] > 12
    text = report("pairs", data, r"[^\w\s]")
    assert ("## Regression target" in text) == regression_task
    assert "[CLS] text [SEP] text_pair [SEP]" in text

    out = tmp_path / "prepared"
    write_prepared(data, out)
    assert json.loads((out / TASK_FILE).read_text()) == manifest["task"]
    task_read, splits = read_prepared_task(out)
    assert task_read == data.task and splits["test"].equals(data.splits["test"])
    with pytest.raises(DataError, match=r"pairs/regression are supported by .* \(see issue 15\)"):
        read_prepared(out)


def test_single_text_prepared_directories_hold_no_task_file(tmp_path: Path) -> None:
    raw = tmp_path / "t.tsv"
    raw.write_text("text\tlabel\n" + "".join(f"text {i}\t{'ab'[i % 2]}\n" for i in range(40)))
    cfg = DownloadConfig(
        format="table", classes=["a", "b"], source="files", files={"train": str(raw)}, columns={}
    )
    manifest = download(cfg, tmp_path / "raw")
    assert "task" not in manifest
    data = prepare(
        tmp_path / "raw",
        PrepareConfig(splits=SplitConfig(train="all", val=5, test=5, test_from="train")),
    )
    write_prepared(data, tmp_path / "prepared")
    assert not (tmp_path / "prepared" / TASK_FILE).exists()
    classes, splits = read_prepared(tmp_path / "prepared")
    assert classes == ["a", "b"] and list(splits["train"].columns) == PREPARED_COLUMNS


def test_a_constant_regression_target_fails(tmp_path: Path) -> None:
    raw = tmp_path / "t.tsv"
    raw.write_text("sentence1\tsentence2\tscore\n" + "".join(f"a{i}\tb{i}\t2\n" for i in range(30)))
    cfg = DownloadConfig(
        format="table",
        task="regression",
        target_range=[0, 5],
        source="files",
        files={"train": str(raw)},
        columns=PAIR_COLUMNS,
    )
    download(cfg, tmp_path / "raw")
    split_config = SplitConfig(train="all", val=5, test=5, test_from="train")
    data = prepare(tmp_path / "raw", PrepareConfig(splits=split_config))
    with pytest.raises(DataError, match="regression target is constant"):
        report("t", data, "x")


# --- the pair sample -----------------------------------------------------------------------


@pytest.mark.parametrize("task", ["paraphrase", "similarity"])
def test_pair_sample_is_deterministic_and_reads_back(tmp_path: Path, task: PairTask) -> None:
    paths = [tmp_path / f"{name}.tsv" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (1, 1, 2), strict=True):
        write_pair_sample(path, 300, seed, task)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    cfg = DownloadConfig(**pair_sample_params(task), source="files", files={"train": "x"})
    frame = load_raw(paths[0], "table", Task.from_download(cfg), cfg.columns)
    assert len(frame) == 300 and (frame["text"] != frame["text_pair"]).mean() > 0.7
    if task == "paraphrase":
        assert 0.3 < (frame["label"] == 1).mean() < 0.55
    else:
        assert frame["label"].min() == SIMILARITY_RANGE[0]
        assert frame["label"].max() == SIMILARITY_RANGE[1]
        assert 0.9 < frame["label"].std() < 2.2


@pytest.mark.parametrize("task", ["paraphrase", "similarity"])
def test_pair_sample_is_learnable_but_not_by_word_overlap_alone(
    tmp_path: Path, task: PairTask
) -> None:
    """A linear model on the pair's word differences learns it; shared words alone do not
    tell paraphrases from near misses."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge

    path = tmp_path / "pairs.tsv"
    write_pair_sample(path, 3000, 7, task)
    frame = pd.read_csv(path, sep="\t", quoting=3, keep_default_na=False)
    label = frame.columns[-1]
    vectorizer = TfidfVectorizer().fit(pd.concat([frame["sentence1"], frame["sentence2"]]))
    a, b = vectorizer.transform(frame["sentence1"]), vectorizer.transform(frame["sentence2"])
    features = hstack([abs(a - b), a.multiply(b)]).tocsr()
    overlap = np.asarray(a.multiply(b).sum(axis=1)).ravel()  # cosine of the two texts
    train, test = slice(0, 2400), slice(2400, None)
    if task == "paraphrase":
        y = (frame[label] == "paraphrase").to_numpy().astype(int)
        model = LogisticRegression(max_iter=2000, C=10).fit(features[train], y[train])
        accuracy = (model.predict(features[test]) == y[test]).mean()
        majority = max(y[test].mean(), 1 - y[test].mean())
        assert majority + 0.1 < accuracy < 0.95
        assert abs(np.corrcoef(overlap, y)[0, 1]) < 0.6
    else:
        y = frame[label].to_numpy(dtype=float)
        model = Ridge(alpha=1.0).fit(features[train], y[train])
        pearson = np.corrcoef(model.predict(features[test]), y[test])[0, 1]
        assert 0.6 < pearson < 0.97


# --- the real minBERT files ----------------------------------------------------------------

needs_minbert = pytest.mark.skipif(not MINBERT.is_dir(), reason=f"{MINBERT} is absent")
TSV_PAIRS = {"text": "sentence1", "text_pair": "sentence2", "delimiter": "\t"}


@needs_minbert
def test_real_sts_reads_as_a_regression_pair_table() -> None:
    columns = TableColumns(**(TSV_PAIRS | {"label": "similarity"}))
    frame = load_raw(MINBERT / "sts-train.csv.gz", "table", STS, columns)
    assert len(frame) == 6040 and frame["label"].dtype == "float64"
    assert frame["label"].between(0, 5).all() and frame["label"].nunique() > 50
    assert frame["text"].iloc[0] == "13 killed in Afgan terror attack"
    assert frame["text_pair"].iloc[0] == "6 killed in Afghan capital mosque attack"


@needs_minbert
def test_real_quora_names_its_two_broken_rows() -> None:
    """Read as the study's loader does (tab, csv quoting), 2 of the 20,214 rows have an empty
    is_duplicate (and one an empty second question): each is named, none merged or dropped."""
    path = MINBERT / "quora-dev.csv.gz"
    for quoting in ("none", "minimal"):
        columns = TableColumns(**(TSV_PAIRS | {"label": "is_duplicate", "quoting": quoting}))
        with pytest.raises(DataError) as error:
            load_raw(path, "table", ["0.0", "1.0"], columns)
        message = located(error)
        assert "3 problem(s)" in message
        classes = "expected one of the class names ['0.0', '1.0']"
        assert f"{path}:2577: column 'is_duplicate': got '', {classes}" in message
        assert f"{path}:14222: column 'sentence2': got '', expected non-empty text" in message
        assert f"{path}:14222: column 'is_duplicate': got '', {classes}" in message
        assert message.endswith("dropped explicitly: files: {drop_lines: {<part>: [2577, 14222]}}")
        rows = read_table(path, ["0.0", "1.0"], columns)  # parsed, before the schema
        assert len(rows) == 20214
        assert rows["label"].value_counts().to_dict() == {0: 12627, 1: 7585, -1: 2}


@needs_minbert
def test_real_quora_without_its_two_broken_rows_reads_as_a_classification_pair(
    tmp_path: Path,
) -> None:
    """What the user does about the two named rows: drop them (here from a copy in tmp; the
    files source's drop_lines does it in place, see test_drop_lines.py)."""
    lines = gzip.decompress((MINBERT / "quora-dev.csv.gz").read_bytes()).split(b"\n")
    kept = [line for number, line in enumerate(lines, start=1) if number not in (2577, 14222)]
    path = tmp_path / "quora.csv"
    path.write_bytes(b"\n".join(kept))
    columns = TableColumns(**(TSV_PAIRS | {"label": "is_duplicate"}))
    frame = load_raw(path, "table", ["0.0", "1.0"], columns)
    assert len(frame) == 20212 and np.bincount(frame["label"]).tolist() == [12627, 7585]
    assert frame["text"].str.startswith('"').sum() > 0  # stray quotes kept as written


@needs_minbert
def test_real_sst_reads_as_five_classes() -> None:
    classes = ["very negative", "negative", "neutral", "positive", "very positive"]
    columns = TableColumns(text="sentence", label="sentiment", labels="ids", delimiter="\t")
    frame = load_raw(MINBERT / "ids-sst-train.csv.gz", "table", classes, columns)
    assert len(frame) == 8544 and "text_pair" not in frame
    assert np.bincount(frame["label"]).tolist() == [1092, 2218, 1624, 2322, 1288]

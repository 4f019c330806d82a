"""Cleaning, exact stratified splits and the pandera schemas with their messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from textdistill.config import CleanConfig, SplitConfig
from textdistill.data.clean import clean_texts, drop_duplicates, drop_empty, drop_seen
from textdistill.data.schemas import validate_prepared, validate_raw
from textdistill.data.split import class_quotas, make_splits
from textdistill.errors import DataError

CLASSES = ["negative", "positive"]


def test_default_cleaning_is_the_source_regex() -> None:
    texts = pd.Series(["Great CD!!! 5/5, would buy_again.", "  spaced\tout  ", "?!"])
    cleaned, report = clean_texts(texts, CleanConfig())
    # Punctuation goes; digits and underscores stay, as in re.sub(r'[^\w\s]', '', text).
    assert cleaned.tolist() == ["Great CD 55 would buy_again", "spaced out", ""]
    assert report.rows == 3 and report.changed == 3
    assert report.examples[0] == (
        "Great CD!!! 5/5, would buy_again.",
        "Great CD 55 would buy_again",
    )
    assert report.chars_after < report.chars_before


def test_cleaning_is_configurable() -> None:
    cleaned, _ = clean_texts(
        pd.Series(["Hello, World 42"]), CleanConfig(pattern=r"\d+", lowercase=True)
    )
    assert cleaned.tolist() == ["hello, world"]


def test_default_cleaning_keeps_the_marks_of_every_script_and_composes_first() -> None:
    # Python's \\w has no combining marks: the source regex alone strips vowel signs and
    # viramas (Devanagari, Thai) and the accent of a decomposed letter.
    texts = pd.Series(["हिन्दी बहुत अच्छा है!", "ภาษาไทย ดีมาก 👍", "cafe\u0301, café", "x!\u0301y"])
    cleaned, _ = clean_texts(texts, CleanConfig())
    assert cleaned.tolist() == ["हिन्दी बहुत अच्छा है", "ภาษาไทย ดีมาก", "café café", "xy"]
    # ... so the two spellings of one text are one text: a duplicate, and a leak when held out
    assert cleaned[2].split()[0] == cleaned[2].split()[1]


def test_a_pattern_that_removes_a_letter_removes_its_marks_and_backreferences_work() -> None:
    texts = pd.Series(["हिन्दी abc", "3.5 out of 5"])
    ascii_only, _ = clean_texts(texts, CleanConfig(pattern="[^a-z0-9 ]"))
    assert ascii_only.tolist() == ["abc", "35 out of 5"]
    decimal, _ = clean_texts(texts, CleanConfig(pattern=r"(\d)\.(\d)", replacement=r"\1,\2"))
    assert decimal.tolist() == ["हिन्दी abc", "3,5 out of 5"]


def test_drops_count_what_they_drop() -> None:
    frame = pd.DataFrame(
        {"id": ["a", "b", "c", "d"], "text": ["x", "", "x", "y"], "label": [0, 1, 1, 0]}
    )
    frame, empty = drop_empty(frame)
    frame, duplicates = drop_duplicates(frame)
    assert (empty, duplicates) == (1, 1)
    assert frame["id"].tolist() == ["a", "d"]
    rest, seen = drop_seen(frame, pd.DataFrame({"text": ["y"]}))
    assert seen == 1 and rest["id"].tolist() == ["a"]


def test_class_quotas_sum_exactly() -> None:
    assert class_quotas(np.array([2525, 2475]), 1600).tolist() == [808, 792]
    for size in (1, 7, 199, 200):
        assert class_quotas(np.array([477, 338, 408, 777]), size).sum() == size


def pool(n: int, prefix: str, rng: np.random.Generator) -> pd.DataFrame:
    labels = rng.choice(2, size=n, p=[0.3, 0.7])
    return pd.DataFrame(
        {
            "id": [f"{prefix}-{i}" for i in range(n)],
            "text": [f"{prefix} {i}" for i in range(n)],
            "label": labels,
        }
    )


@pytest.mark.parametrize("test_from", ["test", "train"])
def test_splits_have_exact_sizes_are_stratified_and_disjoint(test_from: str) -> None:
    rng = np.random.default_rng(0)
    train_pool, test_pool = pool(3000, "train", rng), pool(600, "test", rng)
    config = SplitConfig(train=1600, val=400, test=200, test_from=test_from)
    splits = make_splits(train_pool, test_pool, config, seed=1)
    assert {k: len(v) for k, v in splits.items()} == {"train": 1600, "val": 400, "test": 200}
    ids = [set(frame["id"]) for frame in splits.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    source = test_pool if test_from == "test" else train_pool
    expected = class_quotas(np.bincount(source["label"]), 200)
    assert np.bincount(splits["test"]["label"]).tolist() == expected.tolist()
    again = make_splits(train_pool, test_pool, config, seed=1)
    assert all(again[k]["id"].tolist() == splits[k]["id"].tolist() for k in splits)
    other = make_splits(train_pool, test_pool, config, seed=2)
    assert other["train"]["id"].tolist() != splits["train"]["id"].tolist()


def test_all_takes_what_remains_and_too_many_fails() -> None:
    rng = np.random.default_rng(0)
    train_pool = pool(100, "train", rng)
    splits = make_splits(
        train_pool, None, SplitConfig(train="all", val=10, test=20, test_from="train"), 0
    )
    assert len(splits["train"]) == 70
    with pytest.raises(DataError, match="asks for 200 rows but only 100 remain"):
        make_splits(train_pool, None, SplitConfig(train=10, val=10, test=200, test_from="train"), 0)


def raw(rows: list[tuple[int, str, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file": "raw/train.ft.txt",
            "line": [r[0] for r in rows],
            "raw_label": [r[1] for r in rows],
            "label": [r[2] for r in rows],
            "text": [r[3] for r in rows],
        }
    ).astype({"line": "int64", "label": "int64"})


def test_raw_schema_lists_every_bad_row_with_file_line_value_expected() -> None:
    frame = raw(
        [
            (1, "__label__1", 0, "ok"),
            (2, "__label__3", 2, "out of range"),
            (3, "__label__2", 1, "   "),
        ]
    )
    with pytest.raises(DataError) as error:
        validate_raw(frame, CLASSES, "raw/train.ft.txt")
    message = str(error.value)
    assert "2 problem(s)" in message
    assert (
        "raw/train.ft.txt:2: column 'label': got '__label__3', expected a label in 1..2" in message
    )
    assert "raw/train.ft.txt:3: column 'text': got '   ', expected non-empty text" in message


def test_raw_schema_accepts_good_rows() -> None:
    frame = raw([(1, "__label__1", 0, "ok"), (2, "__label__2", 1, "fine")])
    assert validate_raw(frame, CLASSES, "x").equals(frame)


def test_prepared_schema_catches_duplicates_and_mismatched_names() -> None:
    frame = pd.DataFrame(
        {
            "id": ["train-1", "train-1"],
            "text": ["a", "b"],
            "label": [0, 1],
            "label_name": ["negative", "negative"],
        }
    ).astype({"label": "int64"})
    with pytest.raises(DataError) as error:
        validate_prepared(frame, CLASSES, "train")
    message = str(error.value)
    assert "prepared split 'train' failed validation" in message
    assert "column 'id'" in message and "label_name matching label" in message


def test_a_single_class_train_split_fails_and_a_missing_class_is_named() -> None:
    from textdistill.data.prepare import PreparedData, class_warnings
    from textdistill.data.schemas import Task
    from textdistill.errors import DataError

    def data(train: list[int], test: list[int]) -> PreparedData:
        splits = {
            "train": pd.DataFrame({"label": train}),
            "val": pd.DataFrame({"label": train}),
            "test": pd.DataFrame({"label": test}),
        }
        return PreparedData(Task(("a", "b", "c")), splits, {}, None)  # type: ignore[arg-type]

    assert class_warnings(data([0, 1, 2], [0, 1, 2])) == []
    assert class_warnings(data([0, 1, 2], [0, 1])) == ["class 'c' is absent from the test split"]
    with pytest.raises(DataError, match=r"single class \['b'\]"):
        class_warnings(data([1, 1], [0, 1]))


def test_texts_seen_with_two_labels_are_counted_and_warned_about(tmp_path: Path) -> None:
    """De-duplication keeps a text's first label; copies that disagree are counted and warned
    about, in the metrics, the stage's output and the data report, instead of vanishing."""
    from textdistill.config import DownloadConfig, PrepareConfig
    from textdistill.data.clean import label_conflicts
    from textdistill.data.prepare import LABEL_CONFLICTS, data_warnings, prepare, report
    from textdistill.data.sources import download

    frame = pd.DataFrame({"text": list("xxxyyz"), "label": [0, 1, 0, 1, 1, 0]})
    assert label_conflicts(frame) == 1  # x: 0 and 1; y twice with one label is no conflict
    pairs = pd.DataFrame({"text": list("aaa"), "text_pair": list("bbc"), "label": [0, 1, 1]})
    assert label_conflicts(pairs, ["text", "text_pair"]) == 1  # (a, b) only

    rows = [(f"news story number {i}", "sport" if i % 2 else "tech") for i in range(40)]
    rows += [("news story number 3", "tech"), ("news story number 4", "tech")]  # 3 disagrees
    table = tmp_path / "news.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(table, index=False)
    config = DownloadConfig(
        format="table",
        classes=["sport", "tech"],
        source="files",
        files={"train": str(table)},
        columns={"text": "text", "label": "label"},
    )
    download(config, tmp_path / "raw")
    splits = SplitConfig(train="all", val=8, test=8, test_from="train")
    data = prepare(tmp_path / "raw", PrepareConfig(splits=splits))
    assert data.counts["dropped_duplicate"] == 2 and data.counts[LABEL_CONFLICTS] == 1
    assert data.metrics()["rows"][LABEL_CONFLICTS] == 1
    (warning,) = data_warnings(data)
    assert warning.startswith("1 text(s) occur more than once with different labels")
    text = report("news", data, r"[^\w\s]")
    assert f"| {LABEL_CONFLICTS} | 1 |" in text and f"- {warning}" in text

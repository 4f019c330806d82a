"""Text cleaning and de-duplication, with counts and before/after examples for the data report."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from textdistill.config import CleanConfig

EXAMPLES_SHOWN = 5
TEXT = ("text",)  # the text columns of a single-text table; a pair adds "text_pair"


@dataclass
class CleaningReport:
    """What cleaning did: rows changed, characters removed, a few before/after pairs."""

    rows: int = 0
    changed: int = 0
    chars_before: int = 0
    chars_after: int = 0
    examples: list[tuple[str, str]] = field(default_factory=list)


def clean_texts(texts: pd.Series, config: CleanConfig) -> tuple[pd.Series, CleaningReport]:
    """Normalise to NFC, apply the configured regex (see `substitute`), optional lowercasing,
    then collapse runs of whitespace.

    The default pattern is the source study's `re.sub(r'[^\\w\\s]', '', text)`: punctuation
    goes, while digits and underscores stay (the study's report says numbers were removed too;
    its code did not remove them). NFC first, so a decomposed `café` (e + U+0301) is the
    composed one, for the pattern and for de-duplication alike.
    """
    pattern = re.compile(config.pattern)
    cleaned = texts.map(lambda text: substitute(pattern, config.replacement, text))
    if config.lowercase:
        cleaned = cleaned.str.lower()
    cleaned = cleaned.str.split().str.join(" ")
    changed = cleaned != texts
    examples = list(
        zip(texts[changed].head(EXAMPLES_SHOWN), cleaned[changed].head(EXAMPLES_SHOWN), strict=True)
    )
    report = CleaningReport(
        rows=len(texts),
        changed=int(changed.sum()),
        chars_before=int(texts.str.len().sum()),
        chars_after=int(cleaned.str.len().sum()),
        examples=examples,
    )
    return cleaned, report


def substitute(pattern: re.Pattern[str], replacement: str, text: str) -> str:
    """`pattern.sub(replacement, text)` on the NFC text, except that a combining mark goes
    only with the character it combines with.

    Python's `\\w` has no combining marks (Unicode category M): `[^\\w\\s]` alone would strip
    the vowel signs of Devanagari or Thai (`हिन्दी` -> `हनद`). A match made only of marks is
    kept when the character before it was kept, and removed with it otherwise.
    """
    if text.isascii():  # most texts: no marks, and NFC leaves them as they are
        return pattern.sub(replacement, text)
    text = unicodedata.normalize("NFC", text)
    previous: dict[str, Any] = {"end": -1, "kept": False}

    def replace(match: re.Match[str]) -> str:
        marks = all(unicodedata.category(c).startswith("M") for c in match.group())
        # the character before the marks was kept unless the previous match removed it
        after_kept = match.start() > 0 and (previous["end"] != match.start() or previous["kept"])
        keep = bool(match.group()) and marks and after_kept
        previous.update(end=match.end(), kept=keep)
        return match.group() if keep else match.expand(replacement)

    return pattern.sub(replace, text)


def clean_pools(
    pools: dict[str, pd.DataFrame], columns: Sequence[str], config: CleanConfig
) -> tuple[dict[str, pd.DataFrame], CleaningReport]:
    """Clean every text column of every part in one pass, so the report describes the whole
    corpus (both texts of a pair count as texts)."""
    texts = [pool[name] for pool in pools.values() for name in columns]
    cleaned, report = clean_texts(pd.concat(texts, ignore_index=True), config)
    ends = np.cumsum([len(part) for part in texts])[:-1]
    pieces = iter(np.split(cleaned.to_numpy(), ends))  # back in the order they were joined
    out = {
        part: pool.assign(**{name: next(pieces) for name in columns})
        for part, pool in pools.items()
    }
    return out, report


def drop_empty(frame: pd.DataFrame, columns: Sequence[str] = TEXT) -> tuple[pd.DataFrame, int]:
    """Drop rows with an empty cleaned text (e.g. a review that was only punctuation); of a
    pair, either text empty drops the row."""
    keep = (frame[list(columns)].apply(lambda texts: texts.str.len()) > 0).all(axis=1)
    return frame[keep], int((~keep).sum())


def label_conflicts(frame: pd.DataFrame, columns: Sequence[str] = TEXT) -> int:
    """How many distinct cleaned texts (of a pair: (text, text_pair)) occur with more than one
    label (or regression target): `drop_duplicates` keeps the first, so the others are lost."""
    labels = frame.groupby(list(columns), sort=False)["label"].nunique()
    return int((labels > 1).sum())


def drop_duplicates(frame: pd.DataFrame, columns: Sequence[str] = TEXT) -> tuple[pd.DataFrame, int]:
    """Keep the first occurrence of each cleaned text (of a pair: of each (text, text_pair));
    one with two labels keeps the first."""
    keep = ~frame.duplicated(subset=list(columns), keep="first")
    return frame[keep], int((~keep).sum())


def drop_seen(
    frame: pd.DataFrame, seen: pd.DataFrame, columns: Sequence[str] = TEXT
) -> tuple[pd.DataFrame, int]:
    """Drop rows whose text (of a pair: whose (text, text_pair)) also occurs in `seen`, another
    split, so no example leaks."""
    keep = ~_keys(frame, columns).isin(_keys(seen, columns))
    return frame[keep], int((~keep).sum())


def _keys(frame: pd.DataFrame, columns: Sequence[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[list(columns)])

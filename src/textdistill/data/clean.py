"""Text cleaning and de-duplication, with counts and before/after examples for the data report."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from textdistill.config import CleanConfig

EXAMPLES_SHOWN = 5


@dataclass
class CleaningReport:
    """What cleaning did: rows changed, characters removed, a few before/after pairs."""

    rows: int = 0
    changed: int = 0
    chars_before: int = 0
    chars_after: int = 0
    examples: list[tuple[str, str]] = field(default_factory=list)


def clean_texts(texts: pd.Series, config: CleanConfig) -> tuple[pd.Series, CleaningReport]:
    """Apply the configured regex, optional lowercasing, then collapse runs of whitespace.

    The default pattern is the source study's `re.sub(r'[^\\w\\s]', '', text)`: punctuation
    goes, while digits and underscores stay (the study's report says numbers were removed too;
    its code did not remove them).
    """
    cleaned = texts.str.replace(config.pattern, config.replacement, regex=True)
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


def drop_empty(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop rows whose cleaned text is empty (e.g. a review that was only punctuation)."""
    keep = frame["text"].str.len() > 0
    return frame[keep], int((~keep).sum())


def drop_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep the first occurrence of each cleaned text; a text with two labels keeps the first."""
    keep = ~frame["text"].duplicated(keep="first")
    return frame[keep], int((~keep).sum())


def drop_seen(frame: pd.DataFrame, seen: pd.Series) -> tuple[pd.DataFrame, int]:
    """Drop rows whose text also occurs in `seen` (another split's texts), so no text leaks."""
    keep = ~frame["text"].isin(set(seen))
    return frame[keep], int((~keep).sum())

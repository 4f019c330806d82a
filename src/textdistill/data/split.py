"""Seeded, stratified splits with exact sizes.

`stratified_take` allocates an exact number of rows across strata in proportion to their
frequency (largest-remainder rounding), then samples within each stratum with a seeded RNG.
The strata are the classes; for a regression target (a float `label`) they are quantile bins
of the target, so every split spans its range as the whole pool does.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from textdistill.config import SplitConfig
from textdistill.errors import DataError

SPLITS = ("train", "val", "test")
TARGET_BINS = 10  # quantile bins of a regression target; fewer for a pool of under 20 rows
MIN_BIN_ROWS = 2


def class_quotas(counts: np.ndarray, size: int) -> np.ndarray:
    """Split `size` across classes proportionally to `counts`, summing exactly to `size`."""
    exact = counts * size / counts.sum()
    quotas = np.floor(exact).astype(int)
    shortfall = size - quotas.sum()
    # Largest remainders first; a stable sort breaks ties by class order, so it is deterministic.
    order = np.argsort(-(exact - quotas), kind="stable")
    quotas[order[:shortfall]] += 1
    return quotas


def stratified_take(
    pool: pd.DataFrame, size: int | Literal["all"], rng: np.random.Generator, name: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Take `size` rows stratified by `label` (see `strata`); return (taken, rest), both in
    pool order."""
    if size == "all":
        return pool, pool.iloc[:0]
    if size > len(pool):
        raise DataError(
            f"split {name!r} asks for {size} rows but only {len(pool)} remain "
            "after cleaning, de-duplication and the earlier splits; lower prepare.<dataset>.splits"
        )
    labels = strata(pool["label"])
    classes, counts = np.unique(labels, return_counts=True)
    chosen = np.zeros(len(pool), dtype=bool)
    for label, quota in zip(classes, class_quotas(counts, size), strict=True):
        members = np.flatnonzero(labels == label)
        chosen[rng.choice(members, size=quota, replace=False)] = True
    return pool[chosen], pool[~chosen]


def strata(labels: pd.Series) -> np.ndarray:
    """Class ids as they are; a float target becomes equal-frequency bins of its rank.

    Ranks (ties broken by pool order) make the bins exactly equal in size even where many rows
    share a value (similarity scores of 0 or 5), and deterministic. A pool too small for
    `TARGET_BINS` bins of `MIN_BIN_ROWS` rows gets fewer bins, down to one."""
    values = labels.to_numpy()
    if not np.issubdtype(values.dtype, np.floating):
        return values
    bins = max(1, min(TARGET_BINS, len(values) // MIN_BIN_ROWS))
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    return ranks * bins // max(len(values), 1)


def make_splits(
    train_pool: pd.DataFrame, test_pool: pd.DataFrame | None, config: SplitConfig, seed: int
) -> dict[str, pd.DataFrame]:
    """Carve test (from the test file or the train pool), then val, then train.

    Each split draws from its own child RNG of `seed`, so changing one split's size does not
    reshuffle the others beyond the rows that size takes.
    """
    test_rng, val_rng, train_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    if config.test_from == "test":
        if test_pool is None:
            raise DataError("splits.test_from is 'test' but the dataset has no test file")
        test, _ = stratified_take(test_pool, config.test, test_rng, "test")
        rest = train_pool
    else:
        test, rest = stratified_take(train_pool, config.test, test_rng, "test")
    val, rest = stratified_take(rest, config.val, val_rng, "val")
    train, _ = stratified_take(rest, config.train, train_rng, "train")
    return {"train": train, "val": val, "test": test}

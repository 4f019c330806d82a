"""The embedded sample (smoke data): real formats, determinism, debris, duplicates, learnability."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from textdistill.data.formats import read_agnews_csv, read_fasttext
from textdistill.data.sample import (
    AGNEWS_CLASSES,
    AMAZON_CLASSES,
    generate_news,
    generate_reviews,
    write_agnews_sample,
    write_amazon_sample,
)

Writer = Callable[..., None]
Reader = Callable[[Path], pd.DataFrame]
DATASETS: dict[str, tuple[Writer, Reader, int]] = {
    "amazon": (write_amazon_sample, read_fasttext, len(AMAZON_CLASSES)),
    "agnews": (write_agnews_sample, read_agnews_csv, len(AGNEWS_CLASSES)),
}
GENERATORS = {"amazon": generate_reviews, "agnews": generate_news}
each_dataset = pytest.mark.parametrize("name", list(DATASETS))


def sample(tmp_path: Path, name: str, rows: int, seed: int, **kwargs: float) -> Path:
    path = tmp_path / f"{name}-{rows}-{seed}-{kwargs.get('label_noise', 'default')}.raw"
    DATASETS[name][0](path, rows, seed, **kwargs)
    return path


def accuracy(tmp_path: Path, name: str, **kwargs: float) -> float:
    """TF-IDF + logistic regression: train on 2000 rows, test on 1000 rows of another seed."""
    read = DATASETS[name][1]
    train = read(sample(tmp_path, name, 2000, seed=11, **kwargs))
    test = read(sample(tmp_path, name, 1000, seed=12, **kwargs))
    vectorizer = TfidfVectorizer()
    model = LogisticRegression(max_iter=1000).fit(
        vectorizer.fit_transform(train["text"]), train["label"]
    )
    return float((model.predict(vectorizer.transform(test["text"])) == test["label"]).mean())


@each_dataset
def test_round_trip_through_the_real_reader(tmp_path: Path, name: str) -> None:
    path = sample(tmp_path, name, 2000, seed=1)
    frame = DATASETS[name][1](path)
    classes = DATASETS[name][2]
    assert len(frame) == 2000
    assert frame["line"].tolist() == list(range(1, 2001))  # one physical line per row
    assert set(frame["label"]) == set(range(classes))
    shares = frame["label"].value_counts(normalize=True)
    assert shares.min() > 1 / classes - 0.05
    assert shares.max() < 1 / classes + 0.05
    assert frame["text"].str.strip().str.len().min() > 0
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]  # atomic write, no leftovers


def test_amazon_lines_are_fasttext_with_title_and_body(tmp_path: Path) -> None:
    lines = sample(tmp_path, "amazon", 500, seed=2).read_text(encoding="utf-8").splitlines()
    assert all(re.fullmatch(r"__label__[12] \S[^\n]*?: \S.*", line) for line in lines)


def test_agnews_rows_are_quoted_csv(tmp_path: Path) -> None:
    lines = sample(tmp_path, "agnews", 500, seed=2).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 500
    assert all(re.match(r'"[1-4]","', line) for line in lines)


@each_dataset
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, name: str) -> None:
    first = sample(tmp_path / "a", name, 300, seed=5).read_bytes()
    again = sample(tmp_path / "b", name, 300, seed=5).read_bytes()
    other = sample(tmp_path / "c", name, 300, seed=6).read_bytes()
    assert first == again
    assert first != other


def test_agnews_debris_is_in_the_raw_bytes_and_undone_by_the_reader(tmp_path: Path) -> None:
    path = sample(tmp_path, "agnews", 1000, seed=3)
    raw = path.read_bytes()
    for debris in (b"\\", b"#39;", b"quot;", b'""'):  # escaped newline, entities, CSV quote
        assert debris in raw
    titles = [row[1] for row in pd.read_csv(path, header=None, dtype=str).itertuples(index=False)]
    assert any("," in title for title in titles)
    assert any('"' in title for title in titles)
    text = " ".join(read_agnews_csv(path)["text"])
    for debris in ("\\", "#39;", "quot;"):
        assert debris not in text
    assert "'s" in text
    assert '"' in text


@each_dataset
def test_lengths_vocabulary_and_case_are_varied(name: str) -> None:
    _, titles, bodies = GENERATORS[name](3000, np.random.default_rng(4), 0.08)
    title_words = np.array([len(t.split()) for t in titles])
    body_words = np.array([len(b.split()) for b in bodies])
    low, high = (10, 170) if name == "amazon" else (15, 61)
    assert title_words.min() >= 2
    assert title_words.max() <= 10
    assert body_words.min() >= low
    assert body_words.max() <= high
    assert len(set(body_words)) > 40
    if name == "amazon":  # long tail: the longest reviews are several times the median
        assert np.percentile(body_words, 99) > 2.5 * np.median(body_words)
    words = re.findall(r"[a-z]+", " ".join(titles + bodies).lower())
    assert len(set(words)) > 300
    assert any(re.search(r"\d", b) for b in bodies)
    assert any(t[:1].isupper() for t in titles)
    assert len(set(re.findall(r"[^\w\s]", " ".join(bodies)))) >= 4  # varied punctuation


def test_amazon_reviews_hold_negations() -> None:
    _, _, bodies = generate_reviews(500, np.random.default_rng(4), 0.08)
    assert sum(" not " in f" {b.lower()} " for b in bodies) > 100


@each_dataset
def test_about_one_percent_exact_duplicates_with_one_label(tmp_path: Path, name: str) -> None:
    frame = DATASETS[name][1](sample(tmp_path, name, 2000, seed=7))
    duplicates = frame["text"].duplicated().sum()
    assert 0.005 * 2000 <= duplicates <= 0.02 * 2000
    copies = frame[frame["text"].duplicated(keep=False)]
    assert copies.groupby("text")["label"].nunique().max() == 1


@each_dataset
def test_label_noise_flips_that_fraction_and_leaves_texts_alone(name: str) -> None:
    generate = GENERATORS[name]
    clean_labels, clean_titles, clean_bodies = generate(4000, np.random.default_rng(8), 0.0)
    noisy_labels, noisy_titles, noisy_bodies = generate(4000, np.random.default_rng(8), 0.3)
    assert (clean_titles, clean_bodies) == (noisy_titles, noisy_bodies)
    assert 0.26 < (clean_labels != noisy_labels).mean() < 0.34


@each_dataset
def test_learnable_but_not_trivial(tmp_path: Path, name: str) -> None:
    score = accuracy(tmp_path, name)
    assert 0.70 < score < 0.97, score


@each_dataset
def test_label_noise_makes_it_harder(tmp_path: Path, name: str) -> None:
    clean = accuracy(tmp_path / "clean", name, label_noise=0.0)
    noisy = accuracy(tmp_path / "noisy", name, label_noise=0.3)
    assert clean > noisy + 0.1, (clean, noisy)

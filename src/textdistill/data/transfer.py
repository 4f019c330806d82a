"""Transfer sets for distillation: labelled rows, unlabelled text and augmented copies.

A student distilled on the teacher's training split alone sees few inputs; Tang et al. (2019,
"Distilling Task-Specific Knowledge from BERT into Simple Neural Networks", section 3.2)
enlarge the set the teacher labels with unlabelled text and with perturbed copies of each
example. A transfer set here is:

- the labelled train split, kept exactly (label >= 0, origin ``labelled``);
- unlabelled texts from any source, e.g. a user's file read by `read_text_lines` (label -1,
  origin ``unlabelled``);
- augmented copies of those texts (label -1, origin ``augmented``: the teacher labels them).

Augmentation follows Tang et al.'s rules. For each word one uniform draw ``u`` decides:
``u < p_mask`` masks it, ``p_mask <= u < p_mask + p_replace`` replaces it by a word of the same
kind (Tang et al. swap in a word of the same part-of-speech tag; no tagger ships with its model
on PyPI here, so the stand-in is a nearest neighbour in the teacher's word-embedding space, see
`nearest_neighbours`). Then, with probability ``p_ng``, only a random n-gram of the result is
kept, n uniform in 1..``max_ngram`` (5 in the paper). Each example is drawn
``samples_per_example`` times (the paper's n_iter) and repeats are discarded, so an example
yields *up to* that many new texts.

A masked word is a mask for the teacher (``[MASK]``, which it saw in pre-training) and the
unknown token for the student (``[UNK]``, which it has an embedding for), so every row has two
renderings: ``text`` (the student's) and ``teacher_text``. For unmasked rows they are equal.

The set is deduplicated and never holds a validation or test text, even one an augmentation
happens to reproduce: a row whose student or teacher rendering matches a held-out text is
dropped. Texts are matched after collapsing whitespace and, by default, case-folding (an
uncased teacher cannot tell "Great CD" from "great cd"). Everything is drawn from
``numpy.random.default_rng([seed, hash(text)])``: the same inputs and seed give the same set,
and an example's copies do not depend on its position or on the other inputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from textdistill.config import AugmentConfig
from textdistill.data.formats import read_text
from textdistill.errors import DataError, Problem

MASK_TOKEN = "[MASK]"  # what the teacher sees for a masked word (BERT's mask token)
UNK_TOKEN = "[UNK]"  # what the student sees for it (BERT's unknown token)
UNLABELLED = -1  # the label of rows the teacher labels (the losses skip CE on them)
ORIGINS = ("labelled", "unlabelled", "augmented")
COLUMNS = ["text", "teacher_text", "label", "origin"]
SUBWORD_PREFIX = "##"
NEIGHBOUR_BATCH = 512  # query rows per similarity block: 512 x 30522 float32 is 62 MB

Words = tuple[str | None, ...]  # a text's words; None is a masked word


@dataclass
class TransferStats:
    """Rows kept and dropped per origin, for the data report (a leak or a mass of duplicates
    should be visible, not silent)."""

    kept: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ORIGINS, 0))
    held_out: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ORIGINS, 0))
    duplicates: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ORIGINS, 0))


@dataclass(frozen=True)
class TransferSet:
    """The transfer set (columns text, teacher_text, label, origin) and what was dropped."""

    frame: pd.DataFrame
    stats: TransferStats


def match_key(text: str, casefold: bool = True) -> str:
    """The form in which texts are compared for duplicates and leaks: whitespace collapsed,
    case folded unless the teacher is cased."""
    return " ".join((text.casefold() if casefold else text).split())


def render(words: Words, mask: str) -> str:
    """A word list as text, each masked word written as ``mask``."""
    return " ".join(mask if word is None else word for word in words)


def neighbours_of(word: str, neighbours: Mapping[str, Sequence[str]]) -> Sequence[str]:
    """The listed neighbours of a word, trying its lowercase form for an uncased vocabulary."""
    found = neighbours.get(word)
    if found is None and not word.islower():
        found = neighbours.get(word.lower())
    return found or ()


def mask_and_replace(
    words: Sequence[str],
    p_mask: float,
    p_replace: float,
    neighbours: Mapping[str, Sequence[str]],
    rng: np.random.Generator,
) -> list[str | None]:
    """Tang et al.'s word-level rules: one uniform draw per word masks it (u < p_mask) or
    replaces it by a random listed neighbour (next p_replace of the range); a word without
    neighbours is left as it is."""
    draws = rng.random(len(words))
    out: list[str | None] = list(words)
    for i in np.flatnonzero(draws < p_mask + p_replace).tolist():
        if draws[i] < p_mask:
            out[i] = None
            continue
        choices = neighbours_of(words[i], neighbours)
        if choices:
            out[i] = choices[int(rng.integers(len(choices)))]
    return out


def sample_ngram(
    words: Sequence[str | None], p_ng: float, max_ngram: int, rng: np.random.Generator
) -> Words:
    """With probability p_ng keep only a contiguous n-gram, n uniform in 1..max_ngram (Tang et
    al.: 1..5); a text shorter than n is kept whole."""
    if rng.random() >= p_ng:
        return tuple(words)
    n = min(int(rng.integers(1, max_ngram + 1)), len(words))
    start = int(rng.integers(0, len(words) - n + 1))
    return tuple(words[start : start + n])


def augment(
    words: Sequence[str],
    params: AugmentConfig,
    neighbours: Mapping[str, Sequence[str]],
    rng: np.random.Generator,
) -> Words:
    """One augmented copy of a word list: masking and replacement, then n-gram sampling."""
    changed = mask_and_replace(words, params.p_mask, params.p_replace, neighbours, rng)
    return sample_ngram(changed, params.p_ng, params.max_ngram, rng)


def text_rng(text: str, seed: int) -> np.random.Generator:
    """A generator for one example, from the seed and a stable hash of its text (Python's
    hash() is salted per process, so it would break determinism)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return np.random.default_rng([seed, int.from_bytes(digest, "little")])


def augmented_copies(
    text: str,
    params: AugmentConfig,
    neighbours: Mapping[str, Sequence[str]],
    seed: int,
) -> Iterator[Words]:
    """The ``samples_per_example`` draws for one text, in order (repeats included)."""
    words = text.split()
    if not words:
        return
    rng = text_rng(text, seed)
    for _ in range(params.samples_per_example):
        yield augment(words, params, neighbours, rng)


class _Collector:
    """Accumulates rows, dropping held-out texts and repeats, and counts both."""

    def __init__(self, held_out: Iterable[str], casefold: bool) -> None:
        self.casefold = casefold
        self.held_out = {match_key(text, casefold) for text in held_out}
        self.seen: set[str] = set()
        self.rows: list[tuple[str, str, int, str]] = []
        self.stats = TransferStats()

    def add(self, text: str, teacher_text: str, label: int, origin: str, dedup: bool) -> bool:
        keys = {match_key(text, self.casefold), match_key(teacher_text, self.casefold)}
        if keys & self.held_out:
            self.stats.held_out[origin] += 1
            return False
        key = match_key(text, self.casefold)
        if dedup and key in self.seen:
            self.stats.duplicates[origin] += 1
            return False
        self.seen.add(key)
        self.rows.append((text, teacher_text, label, origin))
        self.stats.kept[origin] += 1
        return True

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=COLUMNS)
        return frame.astype({"text": object, "teacher_text": object, "label": "int64"})


def _check_labelled(labelled: pd.DataFrame) -> None:
    missing = {"text", "label"} - set(labelled.columns)
    if missing:
        raise DataError(f"labelled rows need columns text and label; missing {sorted(missing)}")
    labels = pd.to_numeric(labelled["label"], errors="coerce")
    bad = labelled.index[labels.isna() | (labels < 0) | (labels != labels.round())]
    if len(bad):
        problems = [
            Problem("labelled", None, f"row {i}", labelled.at[i, "label"], "an integer >= 0")
            for i in bad
        ]
        raise DataError("labelled rows need class ids", problems)


def build_transfer_set(
    labelled: pd.DataFrame,
    unlabelled: Sequence[str],
    held_out: Iterable[str],
    params: AugmentConfig,
    neighbours: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
    *,
    mask_token: str = MASK_TOKEN,
    unk_token: str = UNK_TOKEN,
    casefold: bool = True,
) -> TransferSet:
    """The transfer set of one teacher dataset (see the module docstring).

    Rows come in this order: the labelled rows (in their order, text and label unchanged;
    only one matching a held-out text is dropped, and counted), the unlabelled texts, then the
    augmented copies of each kept example in turn (of the unlabelled ones too if
    ``params.augment_unlabelled``). Unlabelled and augmented rows repeating an earlier row are
    dropped. ``held_out`` is every validation and test text of the dataset. Without
    ``neighbours`` no word is replaced. ``mask_token`` and ``unk_token`` are the teacher's and
    the student's tokenizer's tokens; ``casefold=False`` for a cased teacher.
    """
    _check_labelled(labelled)
    collector = _Collector(held_out, casefold)
    parents: list[str] = []
    for text, label in zip(labelled["text"].tolist(), labelled["label"].tolist(), strict=True):
        if collector.add(text, text, int(label), "labelled", dedup=False):
            parents.append(text)
    for text in unlabelled:
        kept = bool(text.strip()) and collector.add(text, text, UNLABELLED, "unlabelled", True)
        if kept and params.augment_unlabelled:
            parents.append(text)
    for text in parents:
        for words in augmented_copies(text, params, neighbours or {}, seed):
            student, teacher = render(words, unk_token), render(words, mask_token)
            collector.add(student, teacher, UNLABELLED, "augmented", dedup=True)
    return TransferSet(collector.frame(), collector.stats)


def is_whole_word(token: str) -> bool:
    """A vocabulary entry that is a word on its own: not a ``##`` continuation piece, not a
    special token (``[CLS]``, ``[unused0]``, ``<s>``), and holding a letter or digit."""
    if token.startswith(SUBWORD_PREFIX) or not token:
        return False
    if (token[0], token[-1]) in (("[", "]"), ("<", ">")):
        return False
    return any(ch.isalnum() for ch in token)


def ordered_vocab(token_to_id: Mapping[str, int]) -> list[str]:
    """A tokenizer's ``get_vocab()`` as a list indexed by id, checking the ids are 0..V-1 (so
    row i of the embedding matrix is entry i)."""
    vocab = sorted(token_to_id, key=token_to_id.__getitem__)
    if [token_to_id[token] for token in vocab] != list(range(len(vocab))):
        raise ValueError("vocabulary ids are not exactly 0..V-1")
    return vocab


def text_words(texts: Iterable[str], lowercase: bool = True) -> set[str]:
    """Every whitespace-separated word of the texts: the queries `nearest_neighbours` needs."""
    return {word.lower() if lowercase else word for text in texts for word in text.split()}


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, np.finfo(matrix.dtype).tiny)


def _top_k(similarity: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k largest values, best first (ties: lower index first)."""
    part = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(similarity, part, axis=1)
    order = np.lexsort((part, -values), axis=1)
    return np.take_along_axis(part, order, axis=1)


def nearest_neighbours(
    embeddings: np.ndarray,
    vocab: Sequence[str],
    k: int,
    words: Iterable[str] | None = None,
    batch_size: int = NEIGHBOUR_BATCH,
) -> dict[str, list[str]]:
    """For each whole-word vocabulary entry (or each of ``words`` that is one), its ``k``
    nearest other whole words by cosine similarity of the teacher's input embeddings, closest
    first: the stand-in for Tang et al.'s same-part-of-speech replacement (neighbours in an
    embedding space tend to share a word's kind: "monday" -> "tuesday", "bought" -> "sold").

    Subword pieces (``##ing``) and special tokens are neither queries nor candidates. Queries
    go ``batch_size`` rows at a time, so memory is batch_size x V floats, not V x V. Compute it
    once per teacher (over the words of the texts to augment, ``text_words``) and reuse it.
    """
    if embeddings.ndim != 2 or embeddings.shape[0] != len(vocab):
        raise ValueError(
            f"embeddings must be (len(vocab) = {len(vocab)}, dim), got {embeddings.shape}"
        )
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    candidates = [i for i, token in enumerate(vocab) if is_whole_word(token)]
    position = {vocab[i]: p for p, i in enumerate(candidates)}  # a word's row among candidates
    wanted = sorted(position) if words is None else sorted(set(words) & position.keys())
    unit = _unit_rows(np.asarray(embeddings, dtype=np.float32)[candidates])
    k = min(k, len(candidates) - 1)
    table: dict[str, list[str]] = {}
    if k < 1:
        return {word: [] for word in wanted}
    for start in range(0, len(wanted), batch_size):
        batch = wanted[start : start + batch_size]
        rows = np.array([position[word] for word in batch])
        similarity = unit[rows] @ unit.T
        similarity[np.arange(len(batch)), rows] = -np.inf  # a word is not its own neighbour
        for word, best in zip(batch, _top_k(similarity, k), strict=True):
            table[word] = [vocab[candidates[j]] for j in best.tolist()]
    return table


def read_text_lines(path: Path | str) -> list[str]:
    """A user's file of raw texts: UTF-8, one text per line (.gz, .bz2 and .xz are read
    decompressed), each stripped of surrounding whitespace, blank lines skipped. Bytes that
    are not UTF-8 are a DataError naming every such line; the lines are the file's physical
    lines (ended by LF or CRLF; a lone CR is text), not str.splitlines()' (which also splits
    at CRs, form feeds and Unicode line separators inside a text).
    """
    text = read_text(Path(path))
    return [line.strip() for line in text.split("\n") if line.strip()]

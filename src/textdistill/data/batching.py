"""Tokenized datasets, length-sorted batches and dynamic padding.

Padding every batch to 512 tokens wastes most of the compute on short texts. Instead, training
batches are drawn from buckets of similar length (shuffled with a seed per epoch, so the
order is random but reproducible and resumable), and each batch is padded only to its own
longest sequence. Evaluation batches are sorted by length outright.

Sentence pairs are one sequence, the tokenizer's pair encoding (`[CLS] a [SEP] b [SEP]` for
BERT), with the segment of each token in `token_type_ids`. Labels are class indices (int64)
or, for a regression task, float targets (float32).

At inference, `TextEncoder` turns raw texts into padded tensors exactly as the tokenizer's
`__call__` does, without its per-call overhead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor


class TextEncoder:
    """Texts -> (input_ids, attention_mask), padded to the longest, as a tokenizer makes them.

    Equal to `tokenizer(texts, truncation=True, max_length=max_length, padding=True,
    return_tensors="pt")`, but for a fast (Rust) tokenizer it encodes with a private copy of
    the backend whose truncation and padding are set once: `__call__` re-applies them to the
    backend on every call, about 60 us a text, which is a third of a small CNN student's
    single-text latency. A slow (Python) tokenizer goes through `__call__`.
    """

    def __init__(self, tokenizer, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._backend = None
        # Without a pad token `__call__` raises its own clear error; keep that behaviour.
        if backend is not None and tokenizer.pad_token is not None:
            from tokenizers import Tokenizer

            self._backend = Tokenizer.from_str(backend.to_str())
            self._backend.enable_truncation(
                max_length, strategy="longest_first", direction=tokenizer.truncation_side
            )
            self._backend.enable_padding(
                direction=tokenizer.padding_side,
                pad_id=tokenizer.pad_token_id,
                pad_type_id=tokenizer.pad_token_type_id,
                pad_token=tokenizer.pad_token,
            )

    def __call__(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        if self._backend is None:
            encoded = self.tokenizer(
                list(texts),
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
            return encoded["input_ids"], encoded["attention_mask"]
        rows = (
            self._backend.encode_batch(list(texts))
            if len(texts) > 1
            else [self._backend.encode(texts[0])]
        )
        ids = torch.tensor([row.ids for row in rows], dtype=torch.long)
        mask = torch.tensor([row.attention_mask for row in rows], dtype=torch.long)
        return ids, mask


# Each bucket holds this many batches' worth of examples before it is sorted by length: big
# enough to group similar lengths, small enough that batch composition still varies by epoch.
BUCKET_BATCHES = 50


@dataclass
class Encoded:
    """Token ids of a split (variable length), labels, and optional cached per-example extras.

    `labels` are int64 class indices, or float targets (float32) for a regression task.
    `extras` holds arrays indexed like the examples, e.g. cached teacher logits (N, K) or
    frozen-encoder features (N, L, H); batches slice them with the same indices.
    `token_type_ids` (sentence pairs only, else None) holds each example's segment ids, one per
    token like `input_ids` (0 for the first text and its special tokens, 1 for the second).
    """

    input_ids: list[np.ndarray]
    labels: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    pad_to: int | None = None  # pad every batch to this width (models built for a fixed length)
    token_type_ids: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self))

    def subset(self, indices: np.ndarray) -> Encoded:
        """The examples at `indices`, in that order, with their extras."""
        extras = {name: np.asarray(values)[indices] for name, values in self.extras.items()}
        order = indices.tolist()
        rows = [self.input_ids[i] for i in order]
        types = None if self.token_type_ids is None else [self.token_type_ids[i] for i in order]
        return Encoded(rows, self.labels[indices], extras, self.pad_to, types)


def encode(
    tokenizer,
    texts: Sequence[str],
    labels: Sequence[int] | Sequence[float],
    max_length: int,
    text_pairs: Sequence[str] | None = None,
) -> Encoded:
    """Tokenize once, truncating to `max_length`; padding happens per batch.

    With `text_pairs`, example i is the pair (texts[i], text_pairs[i]) in the tokenizer's pair
    encoding, and its segment ids are kept in `token_type_ids` (if the tokenizer makes them).
    A pair longer than `max_length` is truncated `longest_first`: a token at a time from the
    longer text, so both texts keep tokens (cutting only the end of the sequence could drop the
    second text entirely). Labels that are floats (a regression target) become float32 and must
    be finite; any others are class indices (int64).
    """
    values = np.asarray(labels)
    if values.dtype.kind == "f" and len(values):
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise ValueError(f"labels must be finite numbers; example {bad[0]} is {values[bad[0]]}")
        targets = values.astype(np.float32)
    else:
        targets = np.asarray(labels, dtype=np.int64)
    if text_pairs is None:
        encoded = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
    else:
        firsts, seconds = list(texts), list(text_pairs)
        if len(seconds) != len(firsts):
            raise ValueError(f"{len(firsts)} texts but {len(seconds)} second texts (text_pairs)")
        missing = [i for i, text in enumerate(seconds) if not isinstance(text, str)]
        if missing:
            raise ValueError(
                f"every pair needs a second text (a string); example {missing[0]} has "
                f"{seconds[missing[0]]!r}"
            )
        encoded = tokenizer(
            firsts, seconds, truncation="longest_first", max_length=max_length, padding=False
        )
    ids = [np.asarray(row, dtype=np.int64) for row in encoded["input_ids"]]
    types = None
    if text_pairs is not None and "token_type_ids" in encoded:
        types = [np.asarray(row, dtype=np.int64) for row in encoded["token_type_ids"]]
    return Encoded(ids, targets, token_type_ids=types)


def train_batches(
    lengths: np.ndarray, batch_size: int, seed: int, epoch: int, drop_last: bool = False
) -> list[np.ndarray]:
    """Index batches for one epoch: shuffle, sort within buckets by length, shuffle batches.

    Seeded by (seed, epoch) alone, so a resumed run sees exactly the batches it would have.
    `drop_last` drops a final partial batch (KD losses need full batches).
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    bucket = batch_size * BUCKET_BATCHES
    batches = []
    for start in range(0, len(order), bucket):
        chunk = order[start : start + bucket]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    if drop_last:
        batches = [b for b in batches if len(b) == batch_size]
    return [batches[i] for i in rng.permutation(len(batches))]


def eval_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches of similar length, in a fixed order (the caller restores example order)."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(data: Encoded, indices: np.ndarray, pad_id: int = 0) -> dict[str, Tensor]:
    """Pad a batch to its longest sequence; returns input_ids, attention_mask, labels, extras,
    and token_type_ids (int64, padded with 0) when the data holds sentence pairs.

    Labels keep their dtype: int64 class indices, or float32 regression targets.
    """
    rows = [data.input_ids[i] for i in indices]
    width = data.pad_to or max(len(row) for row in rows)
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    batch = {
        "input_ids": torch.from_numpy(input_ids),
        "attention_mask": torch.from_numpy(mask),
        "labels": torch.from_numpy(np.ascontiguousarray(data.labels[indices])),
    }
    if data.token_type_ids is not None:
        types = np.zeros((len(rows), width), dtype=np.int64)
        for i, index in enumerate(indices):
            segment = data.token_type_ids[index]
            types[i, : len(segment)] = segment
        batch["token_type_ids"] = torch.from_numpy(types)
    for name, values in data.extras.items():
        extra = np.asarray(values[indices])
        if extra.ndim == 3:  # per-token features: trim to the batch's width
            extra = extra[:, :width]
        batch[name] = torch.from_numpy(np.ascontiguousarray(extra)).float()
    return batch


def iterate(
    data: Encoded, batches: Sequence[np.ndarray], pad_id: int = 0
) -> Iterator[dict[str, Tensor]]:
    for indices in batches:
        yield collate(data, indices, pad_id)

"""Frozen-encoder features, computed once and cached (the `features` stage).

The teacher's encoder is frozen, so its hidden states are the same every epoch; the source
recomputed them every step. Here they are computed once, stored as float16 `.npy` files and
memory-mapped by the teacher stage, which never loads the encoder at all.

Layout of `data/features/<dataset>/`: per split `<split>.features.npy` (N, L, H) float16,
`<split>.input_ids.npy` (N, L) int32 (0 = padding), `<split>.labels.npy` (N,), and
`meta.json` (encoder, max length, hidden size, classes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer

from textdistill.data.batching import Encoded
from textdistill.data.split import SPLITS
from textdistill.errors import TextdistillError
from textdistill.io import atomic_dir, read_json, write_json
from textdistill.train import autocast

META = "meta.json"


def tokenize_fixed(tokenizer, texts: Sequence[str], max_length: int) -> np.ndarray:
    """WordPiece ids padded/truncated to exactly `max_length` (the source's fixed 64)."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, padding="max_length")
    return np.asarray(encoded["input_ids"], dtype=np.int32)


@torch.inference_mode()
def encode_hidden_states(
    encoder: torch.nn.Module,
    ids: np.ndarray,
    batch_size: int,
    device: torch.device,
    precision: str = "fp32",
) -> np.ndarray:
    """Last hidden states of a frozen encoder, (N, L, H) float16, in batches."""
    encoder.eval().to(device)
    out: np.ndarray | None = None
    for start in tqdm(range(0, len(ids), batch_size), desc="features", leave=False, disable=None):
        batch = torch.from_numpy(ids[start : start + batch_size].astype(np.int64)).to(device)
        with autocast(device, precision):
            hidden = encoder(input_ids=batch, attention_mask=(batch != 0).long()).last_hidden_state
        if out is None:
            out = np.empty((len(ids), ids.shape[1], hidden.shape[-1]), dtype=np.float16)
        out[start : start + len(batch)] = hidden.float().cpu().numpy().astype(np.float16)
    assert out is not None
    return out


def compute_features(
    encoder_dir: Path,
    classes: Sequence[str],
    splits: Mapping[str, pd.DataFrame],
    out_dir: Path,
    max_length: int,
    batch_size: int,
    device: torch.device,
    precision: str = "fp32",
) -> dict:
    """Tokenize every split, run the frozen encoder once, and write the cache atomically."""
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir, trust_remote_code=False)
    encoder = AutoModel.from_pretrained(encoder_dir, trust_remote_code=False, use_safetensors=True)
    with atomic_dir(out_dir) as tmp:
        for name in SPLITS:
            ids = tokenize_fixed(tokenizer, splits[name]["text"].tolist(), max_length)
            np.save(tmp / f"{name}.input_ids.npy", ids)
            np.save(tmp / f"{name}.labels.npy", splits[name]["label"].to_numpy(np.int64))
            np.save(
                tmp / f"{name}.features.npy",
                encode_hidden_states(encoder, ids, batch_size, device, precision),
            )
        meta = {
            "encoder": str(encoder_dir),
            "max_length": max_length,
            "hidden_size": int(encoder.config.hidden_size),
            "classes": list(classes),
            "rows": {name: len(splits[name]) for name in SPLITS},
        }
        write_json(tmp / META, meta)
    return meta


def read_token_ids(path: Path) -> list[np.ndarray]:
    """A fixed-width ids file (`tokenize_fixed`'s (N, L) int32, 0 = padding) as one int64
    array per example without its padding: what dynamic-padding batches take."""
    return [row[row != 0].astype(np.int64) for row in np.load(path)]


def load_features(features_dir: Path) -> tuple[dict, dict[str, Encoded]]:
    """Memory-map the cache: per split, ids (unpadded), labels and the features."""
    if not (features_dir / META).is_file():
        raise TextdistillError(
            f"{features_dir} holds no feature cache; run the features stage first"
        )
    meta = read_json(features_dir / META)
    data = {}
    for name in SPLITS:
        rows = read_token_ids(features_dir / f"{name}.input_ids.npy")
        labels = np.load(features_dir / f"{name}.labels.npy")
        features = np.load(features_dir / f"{name}.features.npy", mmap_mode="r")
        data[name] = Encoded(rows, labels, {"features": features}, pad_to=meta["max_length"])
    return meta, data

"""What the students learn from: the transfer set (stage `transfer`) and the teacher's logits
on it (stage `teacher_logits`), each computed once and cached.

`data/transfer/<dataset>/`:
- `transfer.parquet`: text (the student's rendering), teacher_text, label (-1: the teacher
  labels it) and origin (labelled / unlabelled / augmented), see `textdistill.data.transfer`;
- `<split>.input_ids.npy` (N, max_length) int32, 0 = padding, and `<split>.labels.npy` for the
  splits `transfer`, `val` and `test`: the students' inputs, in the teacher encoder's WordPiece
  ids (the students embed them, and `embedding_init: teacher_pca` starts from its embeddings);
- `meta.json`: encoder, max length, classes, rows, and what was kept and dropped.

`data/logits/<dataset>/<split>.npy` (N, classes) float32: the chosen teacher's logits (the VDCNN
teacher, a fine-tuned encoder, or the ensemble of every fine-tuned encoder: `students.teacher`)
on the transfer set's teacher_text and on the validation and test texts. Logits, not encoder features: 60,000 texts x 64 tokens x 384
float16 features would be 3 GB, their logits are 1 MB.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from transformers import AutoModel, AutoTokenizer

from textdistill.config import CleanConfig, TransferConfig, UnlabelledSource
from textdistill.data.batching import Encoded, TextEncoder, encode
from textdistill.data.clean import clean_texts
from textdistill.data.formats import read_agnews_csv, read_fasttext
from textdistill.data.prepare import read_prepared
from textdistill.data.transfer import (
    TransferSet,
    build_transfer_set,
    nearest_neighbours,
    ordered_vocab,
    read_text_lines,
    text_words,
)
from textdistill.errors import DataError, TextdistillError
from textdistill.evaluate import (
    classification_metrics,
    count_parameters,
    cpu_latency_ms,
    directory_size_mb,
    fit_temperature,
)
from textdistill.features import read_token_ids, tokenize_fixed
from textdistill.io import read_json, resolve_in_project, write_json
from textdistill.models.store import load_model
from textdistill.train import predict_logits

META = "meta.json"
TEXTS = "transfer.parquet"
STUDENT_SPLITS = ("transfer", "val", "test")  # the students train on the first
MODEL_INPUTS = ("input_ids", "attention_mask")  # every saved model's call


# --- the transfer set ----------------------------------------------------------------------


def read_unlabelled(source: UnlabelledSource, clean: CleanConfig) -> list[str]:
    """A source's texts, cleaned as the prepared data was (the students see only cleaned
    text); texts that cleaning empties are dropped."""
    path = resolve_in_project(source.path)
    if not path.is_file():
        raise DataError(f"transfer.unlabelled: {source.path}: no such file")
    if source.format == "lines":
        texts = read_text_lines(path)
    else:
        reader = read_fasttext if source.format == "fasttext" else read_agnews_csv
        texts = reader(path)["text"].tolist()
    cleaned, _ = clean_texts(pd.Series(texts, dtype=object), clean)
    return [text for text in cleaned.tolist() if text]


def word_neighbours(
    encoder_dir: Path, tokenizer: Any, texts: Sequence[str], k: int
) -> dict[str, list[str]]:
    """Each word of `texts` -> its k nearest whole words in the encoder's input embeddings."""
    encoder = AutoModel.from_pretrained(encoder_dir, trust_remote_code=False, use_safetensors=True)
    embeddings = encoder.get_input_embeddings().weight.detach().float().numpy()
    vocab = ordered_vocab(tokenizer.get_vocab())
    lowercase = bool(getattr(tokenizer, "do_lower_case", True))
    return nearest_neighbours(embeddings, vocab, k, text_words(texts, lowercase))


def build_students_data(
    prepared_dir: Path,
    encoder_dir: Path,
    config: TransferConfig,
    clean: CleanConfig,
    max_length: int,
    out_dir: Path,
) -> dict[str, Any]:
    """Build the transfer set of a prepared dataset and write `data/transfer/<dataset>/` into
    `out_dir` (a staged directory). Returns the metrics: rows by origin, drops, seconds."""
    start = time.perf_counter()
    classes, splits = read_prepared(prepared_dir)
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir, trust_remote_code=False)
    unlabelled = [text for source in config.unlabelled for text in read_unlabelled(source, clean)]
    augment = config.augment
    neighbours = None
    if augment.samples_per_example and augment.p_replace > 0:
        parents = splits["train"]["text"].tolist()
        parents += unlabelled if augment.augment_unlabelled else []
        neighbours = word_neighbours(encoder_dir, tokenizer, parents, config.neighbours)
    held_out = [text for split in ("val", "test") for text in splits[split]["text"].tolist()]
    built = build_transfer_set(
        splits["train"][["text", "label"]],
        unlabelled,
        held_out,
        augment,
        neighbours,
        config.seed,
        mask_token=tokenizer.mask_token,
        unk_token=tokenizer.unk_token,
        casefold=bool(getattr(tokenizer, "do_lower_case", True)),
    )
    if not (built.frame["label"] >= 0).any():
        raise DataError(f"{prepared_dir}: every labelled train text is also a val or test text")
    frames = {"transfer": built.frame, "val": splits["val"], "test": splits["test"]}
    out_dir.mkdir(parents=True, exist_ok=True)
    built.frame.to_parquet(out_dir / TEXTS, index=False)
    for name, frame in frames.items():
        ids = tokenize_fixed(tokenizer, frame["text"].tolist(), max_length)
        np.save(out_dir / f"{name}.input_ids.npy", ids)
        np.save(out_dir / f"{name}.labels.npy", frame["label"].to_numpy(np.int64))
    metrics = _transfer_metrics(built, time.perf_counter() - start)
    meta = {
        "encoder": str(encoder_dir),
        "max_length": max_length,
        "classes": classes,
        "rows": {name: len(frame) for name, frame in frames.items()},
    }
    # The timing goes to the metrics only: in the output, it would change DVC's hash every run.
    stats = {key: value for key, value in metrics.items() if key != "seconds"}
    write_json(out_dir / META, meta | {"stats": stats})
    return metrics


def _transfer_metrics(built: TransferSet, seconds: float) -> dict[str, Any]:
    stats = asdict(built.stats)
    return {
        "rows": len(built.frame),
        "labelled": int((built.frame["label"] >= 0).sum()),
        **{f"{what}_{origin}": n for what, counts in stats.items() for origin, n in counts.items()},
        "seconds": round(seconds, 2),
    }


def load_students_data(transfer_dir: Path) -> tuple[dict[str, Any], dict[str, Encoded]]:
    """The students' splits (`transfer`, `val`, `test`) as unpadded ids with labels."""
    if not (transfer_dir / META).is_file():
        raise TextdistillError(
            f"{transfer_dir} holds no transfer set; run the transfer stage first"
        )
    meta = read_json(transfer_dir / META)
    data = {}
    for name in STUDENT_SPLITS:
        rows = read_token_ids(transfer_dir / f"{name}.input_ids.npy")
        data[name] = Encoded(rows, np.load(transfer_dir / f"{name}.labels.npy"))
    return meta, data


# --- the teacher's logits ------------------------------------------------------------------


def teacher_texts(transfer_dir: Path, prepared_dir: Path) -> dict[str, list[str]]:
    """What the teacher reads: the transfer set's teacher rendering ([MASK] where a word was
    masked), and the validation and test texts."""
    _, splits = read_prepared(prepared_dir)
    transfer = pd.read_parquet(transfer_dir / TEXTS)
    texts = {"transfer": transfer["teacher_text"].tolist()}
    return texts | {name: splits[name]["text"].tolist() for name in ("val", "test")}


def compute_teacher_logits(
    teacher_dirs: Sequence[Path],
    texts: dict[str, list[str]],
    batch_size: int,
    device: torch.device,
    precision: str,
    classes: Sequence[str],
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The saved teacher, or an ensemble of them, run without gradients over each split.

    One directory: its logits. Several: an ensemble (Hinton et al. 2015, "Distilling the
    Knowledge in a Neural Network", distil one), whose logits are the mean of its members' raw
    logits, z = (1/M) sum_m z_m, the same for every loss (KD softens z, MSE regresses on it).
    Each member is any model `load_model` reads, run in length-sorted batches. Returns the
    logits and throughput figures (the whole pass and each member's).
    """
    passes = [
        _teacher_pass(Path(d), texts, batch_size, device, precision, classes) for d in teacher_dirs
    ]
    if not passes:
        raise TextdistillError("no teacher to compute logits with")
    logits = {
        name: np.mean([np.asarray(p[0][name], np.float64) for p in passes], axis=0).astype(
            np.float32
        )
        for name in texts
    }
    seconds = sum(p[1]["seconds"] for p in passes)
    rows = sum(len(split) for split in texts.values())
    stats: dict[str, Any] = {
        "teacher": ", ".join(str(d) for d in teacher_dirs),
        "rows": rows,
        "seconds": round(seconds, 2),
        "texts_per_s": round(rows / max(seconds, 1e-9), 1),
        "device": device.type,
        "precision": precision,
    }
    if len(passes) > 1:
        stats["members"] = [p[1] for p in passes]
    return logits, stats


def _teacher_pass(
    teacher_dir: Path,
    texts: dict[str, list[str]],
    batch_size: int,
    device: torch.device,
    precision: str,
    classes: Sequence[str],
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One teacher's logits on every split, and its seconds."""
    model, spec, tokenizer = load_model(teacher_dir)
    if list(spec["classes"]) != list(classes):
        raise TextdistillError(
            f"{teacher_dir} classifies {spec['classes']}, the students' data has {list(classes)}"
        )
    model.to(device)
    start = time.perf_counter()
    logits = {}
    for name, split_texts in texts.items():
        data = encode(tokenizer, split_texts, [0] * len(split_texts), spec["max_length"])
        logits[name] = predict_logits(model, data, MODEL_INPUTS, batch_size, device, precision)
    seconds = time.perf_counter() - start
    return logits, {"teacher": str(teacher_dir), "seconds": round(seconds, 2)}


def teacher_scores(
    logits: dict[str, np.ndarray], prepared_dir: Path, classes: Sequence[str]
) -> dict[str, Any]:
    """The teacher's test metrics as every trained model reports them: calibrated by the
    temperature fitted on its validation logits (`evaluate.fit_temperature`), the raw loss and
    ECE kept. For an ensemble these are its only metrics; for one teacher they repeat its own."""
    _, splits = read_prepared(prepared_dir)
    val_labels, test_labels = (splits[name]["label"].to_numpy() for name in ("val", "test"))
    temperature = fit_temperature(logits["val"], val_labels)
    raw = classification_metrics(logits["test"], test_labels, len(classes))
    return {
        "test": classification_metrics(logits["test"] / temperature, test_labels, len(classes)),
        "calibration": {
            "temperature": round(temperature, 4),
            "uncalibrated": {"loss": raw["loss"], "ece": raw["ece"]},
        },
    }


def ensemble_cost(teacher_dirs: Sequence[Path], texts: Sequence[str]) -> dict[str, Any]:
    """What running the teacher costs a user, as a leaderboard row reports it: the members'
    parameters and weight files summed, and the CPU latency of one raw text through every
    member in turn (each tokenizing it itself), batch size 1, one thread."""
    members = [load_model(Path(d)) for d in teacher_dirs]
    encoders = [TextEncoder(tokenizer, spec["max_length"]) for _, spec, tokenizer in members]
    models = [model.to("cpu").eval() for model, _, _ in members]

    @torch.inference_mode()
    def predict_one(i: int) -> None:
        for model, encoder in zip(models, encoders, strict=True):
            model(*encoder([texts[i]]))

    return {
        "model": {
            "parameters": sum(count_parameters(model) for model in models),
            "size_mb": round(sum(directory_size_mb(Path(d)) for d in teacher_dirs), 3),
        },
        "cpu": cpu_latency_ms(predict_one, len(texts)),
    }


def write_logits(logits: dict[str, np.ndarray], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, values in logits.items():
        np.save(out_dir / f"{name}.npy", values.astype(np.float32))


def read_logits(logits_dir: Path) -> dict[str, np.ndarray]:
    missing = [n for n in STUDENT_SPLITS if not (logits_dir / f"{n}.npy").is_file()]
    if missing:
        raise TextdistillError(
            f"{logits_dir} has no teacher logits for {missing}; run the teacher_logits stage"
        )
    return {name: np.load(logits_dir / f"{name}.npy") for name in STUDENT_SPLITS}

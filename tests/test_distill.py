"""The distillation branch on a tiny real encoder: features once, teacher, cached logits, student."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from textdistill.config import EncoderSpec, TrainConfig
from textdistill.distill import (
    read_logits,
    teacher_logits,
    train_student,
    train_teacher,
    write_logits,
)
from textdistill.features import compute_features, load_features
from textdistill.losses import build_loss
from textdistill.models.pretrained import materialize_named
from textdistill.models.store import EncoderVDCNN, load_model, save_model

CLASSES = ["sports", "tech"]
TRAIN = TrainConfig(epochs=2, batch_size=8, lr=1e-3, eval_batch_size=16, device="cpu")
VDCNN = {"depth": 9, "fc_dim": 32}


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = {0: "match goal team coach season", 1: "software chip internet data code"}
    labels = rng.integers(0, 2, n)
    texts = [
        " ".join(rng.choice(words[label].split(), 6)) + f" item {i}"
        for i, label in enumerate(labels)
    ]
    return pd.DataFrame({"id": [f"r-{i}" for i in range(n)], "text": texts, "label": labels})


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("distill")
    specs = {
        "bert": EncoderSpec(source="package"),
        "tiny": EncoderSpec(source="derive", base="bert", layers=[0]),
    }
    materialize_named("tiny", specs, root / "encoder")
    splits = {"train": frame(48, 0), "val": frame(16, 1), "test": frame(16, 2)}
    compute_features(
        root / "encoder", CLASSES, splits, root / "features", 16, 32, torch.device("cpu")
    )
    return {"root": root, "encoder": root / "encoder", "features": root / "features"}


def test_feature_cache_is_float16_fixed_length_and_memory_mapped(cache: dict[str, Path]) -> None:
    meta, data = load_features(cache["features"])
    assert meta["hidden_size"] == 384 and meta["max_length"] == 16
    features = data["train"].extras["features"]
    assert isinstance(features, np.memmap) and features.dtype == np.float16
    assert features.shape == (48, 16, 384)
    assert all(row[0] == 101 for row in data["train"].input_ids)  # [CLS], padding stripped


@pytest.mark.filterwarnings("ignore:DIST with 2 classes")
def test_teacher_then_students_from_cached_logits(cache: dict[str, Path]) -> None:
    teacher = train_teacher(cache["features"], VDCNN, TRAIN, build_loss("ce"), seed=0)
    logits = teacher_logits(teacher, TRAIN)
    assert {name: values.shape for name, values in logits.items()} == {
        "train": (48, 2),
        "val": (16, 2),
        "test": (16, 2),
    }
    np.testing.assert_allclose(logits["test"], teacher.result.test_logits, rtol=1e-5, atol=1e-5)
    # Four cached test rows name the other class: agreement measured against anything but the
    # cache (the labels, the teacher in memory) would come out different. Test rows only score.
    logits["test"][:4] = np.flip(logits["test"][:4], axis=1).copy()
    write_logits(logits, cache["root"] / "logits")
    assert read_logits(cache["root"] / "logits")["train"].dtype == np.float32

    student = train_student(
        cache["features"],
        cache["root"] / "logits",
        "simpler_cnn",
        {},
        TRAIN,
        build_loss("dist"),
        seed=0,
    )
    # Agreement: the share of test rows where the student's and the cached teacher's top class
    # match, counted here row by row (16 rows: a multiple of 1/16, exact in floating point).
    cached = read_logits(cache["root"] / "logits")["test"]
    student_test = student.result.test_logits
    assert student_test.shape == cached.shape == (16, 2)
    matches = sum(
        int(np.argmax(s) == np.argmax(t)) for s, t in zip(student_test, cached, strict=True)
    )
    assert student.result.extra["teacher_agreement"] == matches / 16
    assert student.result.train_samples == 2 * (48 // 8) * 8  # KD drops partial batches


def test_saved_teacher_and_student_reload_and_predict_alike(cache: dict[str, Path]) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(cache["encoder"])
    teacher = train_teacher(cache["features"], VDCNN, TRAIN, build_loss("ce"), seed=0)
    save_model(teacher.model, teacher.spec, tokenizer, cache["root"] / "teacher")
    pipeline, spec, _ = load_model(cache["root"] / "teacher")
    assert isinstance(pipeline, EncoderVDCNN) and spec["classes"] == CLASSES
    # End to end from raw text (encoder + VDCNN) matches the logits from cached features.
    texts = frame(16, 2)["text"].tolist()
    encoded = tokenizer(
        texts, truncation=True, max_length=16, padding="max_length", return_tensors="pt"
    )
    with torch.inference_mode():
        direct = pipeline(encoded["input_ids"], encoded["attention_mask"]).numpy()
    np.testing.assert_allclose(direct, teacher.result.test_logits, rtol=1e-2, atol=1e-2)


def test_predict_cli_on_a_saved_student(cache: dict[str, Path], tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner
    from transformers import AutoTokenizer

    from textdistill.cli import main

    teacher = train_teacher(cache["features"], VDCNN, TRAIN, build_loss("ce"), seed=0)
    write_logits(teacher_logits(teacher, TRAIN), tmp_path / "logits")
    student = train_student(
        cache["features"], tmp_path / "logits", "simple_cnn", {}, TRAIN, build_loss("kd"), seed=0
    )
    student.spec["clean"] = {"pattern": r"[^\w\s]", "replacement": "", "lowercase": False}
    save_model(
        student.model,
        student.spec,
        AutoTokenizer.from_pretrained(cache["encoder"]),
        tmp_path / "student",
    )

    runner = CliRunner()
    done = runner.invoke(
        main, ["predict", "--model", str(tmp_path / "student"), "goal match!", "chip data"]
    )
    assert done.exit_code == 0, done.output
    lines = done.output.strip().splitlines()
    assert (
        len(lines) == 2 and lines[0].split("\t")[0] in CLASSES and lines[0].endswith("goal match!")
    )

    done = runner.invoke(
        main, ["predict", "--model", str(tmp_path / "student"), "--json"], input="code software\n\n"
    )
    record = json.loads(done.output)
    assert record["label"] in CLASSES and sum(record["probabilities"].values()) == pytest.approx(
        1, abs=1e-4
    )

    missing = runner.invoke(main, ["predict", "--model", str(tmp_path / "absent"), "x"])
    assert missing.exit_code != 0 and "no model at" in missing.output
    not_a_model = runner.invoke(main, ["predict", "--model", str(tmp_path / "logits"), "x"])
    assert not_a_model.exit_code != 0 and "is not a textdistill model" in not_a_model.output

    # Bad input and broken model files: one line each, never a traceback.
    (tmp_path / "latin1.txt").write_bytes("goal match\ncaf\xe9 match\n".encode("latin-1"))
    undecodable = runner.invoke(
        main,
        ["predict", "--model", str(tmp_path / "student"), "--file", str(tmp_path / "latin1.txt")],
    )
    assert undecodable.exit_code != 0 and "latin1.txt:2: not UTF-8" in undecodable.output
    assert "Traceback" not in undecodable.output

    empty = runner.invoke(main, ["predict", "--model", str(tmp_path / "student"), "--json", "?!"])
    assert empty.exit_code == 0 and json.loads(empty.stdout)["empty"] is True
    assert "empty after the model's cleaning" in empty.stderr

    for broken, damage in (("model.json", b'{"kind": "stud'), ("model.safetensors", b"\x00" * 64)):
        copy = tmp_path / f"broken-{broken}"
        shutil.copytree(tmp_path / "student", copy)
        (copy / broken).write_bytes(damage)
        done = runner.invoke(main, ["predict", "--model", str(copy), "x"])
        assert done.exit_code != 0 and "is not a valid textdistill model" in done.output, broken
        assert done.exception is None or isinstance(done.exception, SystemExit)


def test_a_teacher_pca_student_starts_from_the_encoders_embeddings(
    cache: dict[str, Path], tmp_path: Path
) -> None:
    from textdistill.models.embeddings import teacher_embedding

    teacher = train_teacher(cache["features"], VDCNN, TRAIN, build_loss("ce"), seed=0)
    write_logits(teacher_logits(teacher, TRAIN), tmp_path / "logits")
    params = {"embedding_init": "teacher_pca", "freeze_embedding": True}
    student = train_student(
        cache["features"], tmp_path / "logits", "simpler_cnn", params, TRAIN, build_loss("ce"), 0
    )
    expected = teacher_embedding(cache["encoder"], 128)
    torch.testing.assert_close(student.model.embedding.weight.detach(), expected)  # frozen
    plain = train_student(
        cache["features"], tmp_path / "logits", "simpler_cnn", {}, TRAIN, build_loss("ce"), 0
    )
    assert not torch.allclose(plain.model.embedding.weight, expected)

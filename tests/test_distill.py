"""The distillation branch on a tiny real encoder: features once, the teacher, the transfer set,
the teacher's cached logits on it, and students."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import benchmark, saved_classifier

from textdistill.config import CleanConfig, EncoderSpec, TrainConfig, TransferConfig
from textdistill.distill import train_student, train_teacher
from textdistill.errors import TextdistillError
from textdistill.evaluate import softmax
from textdistill.features import compute_features, load_features
from textdistill.io import read_json, write_json
from textdistill.losses import build_loss
from textdistill.models.pretrained import materialize_named
from textdistill.models.store import EncoderVDCNN, load_model, record_calibration, save_model
from textdistill.teaching import (
    TEXTS,
    build_students_data,
    compute_teacher_logits,
    load_students_data,
    read_logits,
    teacher_texts,
    write_logits,
)

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["sports", "tech"]
CLEAN = CleanConfig(pattern=r"[^\w\s]", replacement="", lowercase=False)
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


def transfer(root: Path) -> TransferConfig:
    """The fixture's transfer set: root's unlabelled file and three augmented copies a text."""
    return TransferConfig.model_validate(
        {
            "unlabelled": [{"path": str(root / "unlabelled.txt")}],
            "augment": {"samples_per_example": 3, "p_mask": 0.2, "p_replace": 0.2},
            "neighbours": 3,
        }
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Encoder, prepared data, features, a trained and saved teacher, a transfer set (labelled
    rows, an unlabelled file, augmented copies) and the teacher's logits on it."""
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("distill")
    specs = {
        "bert": EncoderSpec(source="package"),
        "tiny": EncoderSpec(source="derive", base="bert", layers=[0]),
    }
    materialize_named("tiny", specs, root / "encoder")
    splits = {"train": frame(48, 0), "val": frame(16, 1), "test": frame(16, 2)}
    (root / "prepared").mkdir()
    for name, split in splits.items():
        split.to_parquet(root / "prepared" / f"{name}.parquet", index=False)
    write_json(root / "prepared" / "classes.json", CLASSES)
    compute_features(
        root / "encoder", CLASSES, splits, root / "features", 16, 32, torch.device("cpu")
    )
    teacher = train_teacher(root / "features", VDCNN, TRAIN, build_loss("ce"), seed=0)
    tokenizer = AutoTokenizer.from_pretrained(root / "encoder")
    save_model(teacher.model, teacher.spec, tokenizer, root / "teacher")
    # Unlabelled texts, one a validation text in other case and spacing: it must not get in.
    held_out = splits["val"]["text"].iloc[0]
    lines = ["goal coach team!", "chip  code data", held_out.upper(), "", "match season goal"]
    (root / "unlabelled.txt").write_text("\n".join(lines), encoding="utf-8")
    staged = root / "transfer"
    build_students_data(root / "prepared", root / "encoder", transfer(root), CLEAN, 16, staged)
    logits, _ = compute_teacher_logits(
        [root / "teacher"],
        teacher_texts(staged, root / "prepared"),
        32,
        torch.device("cpu"),
        "fp32",
        CLASSES,
    )
    write_logits(logits, root / "logits")
    return {
        "root": root,
        "encoder": root / "encoder",
        "features": root / "features",
        "prepared": root / "prepared",
        "teacher": root / "teacher",
        "transfer": root / "transfer",
        "logits": root / "logits",
    }


def test_rebuilding_the_transfer_set_gives_the_same_bytes(
    cache: dict[str, Path], tmp_path: Path
) -> None:
    """DVC hashes the directory: a timing inside it would change the hash on every run and
    rerun every stage after it for nothing."""
    build_students_data(
        cache["prepared"], cache["encoder"], transfer(cache["root"]), CLEAN, 16, tmp_path
    )
    built = sorted(path.name for path in cache["transfer"].iterdir())
    assert built == sorted(path.name for path in tmp_path.iterdir())
    for name in built:
        assert (tmp_path / name).read_bytes() == (cache["transfer"] / name).read_bytes(), name


def test_feature_cache_is_float16_fixed_length_and_memory_mapped(cache: dict[str, Path]) -> None:
    meta, data = load_features(cache["features"])
    assert meta["hidden_size"] == 384 and meta["max_length"] == 16
    features = data["train"].extras["features"]
    assert isinstance(features, np.memmap) and features.dtype == np.float16
    assert features.shape == (48, 16, 384)
    assert all(row[0] == 101 for row in data["train"].input_ids)  # [CLS], padding stripped


def test_the_transfer_set_holds_labelled_unlabelled_and_augmented_rows_never_held_out(
    cache: dict[str, Path],
) -> None:
    transfer = pd.read_parquet(cache["transfer"] / TEXTS)
    labelled = transfer[transfer["origin"] == "labelled"]
    assert labelled["text"].tolist() == frame(48, 0)["text"].tolist()  # kept exactly, in order
    unlabelled = transfer[transfer["origin"] == "unlabelled"]["text"].tolist()
    assert unlabelled == ["goal coach team", "chip code data", "match season goal"]  # cleaned
    augmented = transfer[transfer["origin"] == "augmented"]
    assert len(augmented) > 48 and (augmented["label"] == -1).all()
    assert augmented["text"].str.contains("[UNK]", regex=False).any()  # masked for the student
    assert augmented["teacher_text"].str.contains("[MASK]", regex=False).any()  # and the teacher
    held_out = {" ".join(t.lower().split()) for n in (1, 2) for t in frame(16, n)["text"]}
    for column in ("text", "teacher_text"):
        keys = {" ".join(t.lower().split()) for t in transfer[column]}
        assert not keys & held_out
    meta, data = load_students_data(cache["transfer"])
    assert meta["rows"] == {"transfer": len(transfer), "val": 16, "test": 16}
    assert (data["transfer"].labels == transfer["label"].to_numpy()).all()
    assert all(row[0] == 101 and len(row) <= 16 for row in data["transfer"].input_ids)


def test_teacher_logits_come_from_the_saved_teacher_on_the_teachers_rendering(
    cache: dict[str, Path],
) -> None:
    logits = read_logits(cache["logits"])
    rows = len(pd.read_parquet(cache["transfer"] / TEXTS))
    assert {k: v.shape for k, v in logits.items()} == {
        "transfer": (rows, 2),
        "val": (16, 2),
        "test": (16, 2),
    }
    assert logits["transfer"].dtype == np.float32
    # The labelled rows come first: the teacher on them equals the teacher on its own features.
    teacher = train_teacher(cache["features"], VDCNN, TRAIN, build_loss("ce"), seed=0)
    np.testing.assert_allclose(logits["test"], teacher.result.test_logits, rtol=1e-2, atol=1e-2)
    texts = teacher_texts(cache["transfer"], cache["prepared"])
    with pytest.raises(TextdistillError, match="classifies"):
        compute_teacher_logits(
            [cache["teacher"]], texts, 8, torch.device("cpu"), "fp32", ["a", "b"]
        )


@pytest.mark.filterwarnings("ignore:DIST with 2 classes")
def test_distilled_students_train_on_the_transfer_set_plain_ones_on_the_labelled_rows(
    cache: dict[str, Path], tmp_path: Path
) -> None:
    logits = read_logits(cache["logits"])
    rows = len(logits["transfer"])
    # Four cached test rows name the other class: agreement measured against anything but the
    # cache (the labels, the teacher in memory) would come out different. Test rows only score.
    logits["test"][:4] = np.flip(logits["test"][:4], axis=1).copy()
    write_logits(logits, tmp_path / "logits")

    student = train_student(
        cache["transfer"], tmp_path / "logits", "simpler_cnn", {}, TRAIN, build_loss("dist"), 0
    )
    # Agreement: the share of test rows where the student's and the cached teacher's top class
    # match, counted here row by row (16 rows: a multiple of 1/16, exact in floating point).
    student_test = student.result.test_logits
    matches = sum(
        int(np.argmax(s) == np.argmax(t)) for s, t in zip(student_test, logits["test"], strict=True)
    )
    assert student.result.extra["teacher_agreement"] == matches / 16
    assert student.result.extra["train_rows"] == rows
    assert student.result.train_samples == 2 * (rows // 8) * 8  # KD drops partial batches

    plain = train_student(
        cache["transfer"], tmp_path / "logits", "simpler_cnn", {}, TRAIN, build_loss("ce"), 0
    )
    assert plain.result.extra["train_rows"] == 48  # the labelled rows: the train split
    assert plain.result.train_samples == 2 * 48

    mse = train_student(
        cache["transfer"], tmp_path / "logits", "simpler_cnn", {}, TRAIN, build_loss("mse"), 0
    )
    assert mse.result.extra["train_rows"] == rows

    (tmp_path / "short").mkdir()
    write_logits({k: v[:-1] for k, v in logits.items()}, tmp_path / "short")
    with pytest.raises(TextdistillError, match="rerun the teacher_logits stage"):
        train_student(
            cache["transfer"], tmp_path / "short", "simpler_cnn", {}, TRAIN, build_loss("kd"), 0
        )


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


def test_predict_gives_probabilities_at_the_models_calibration_temperature(
    cache: dict[str, Path], tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    from textdistill.predict import Predictor

    student = train_student(
        cache["transfer"], cache["logits"], "simpler_cnn", {}, TRAIN, build_loss("kd"), seed=0
    )
    assert student.result.temperature is not None  # the lifecycle records it in model.json
    tokenizer = AutoTokenizer.from_pretrained(cache["encoder"])
    save_model(student.model, student.spec, tokenizer, tmp_path / "student")
    texts = ["goal match!", "chip data", "code software"]
    raw = Predictor(tmp_path / "student").predict(texts)
    record_calibration(tmp_path / "student", 0.25)
    calibrated = Predictor(tmp_path / "student").predict(texts)
    for before, after in zip(raw, calibrated, strict=True):
        assert after.label == before.label  # a temperature never changes the class
        log_probs = np.log([before.probabilities[name] for name in CLASSES])
        expected = softmax(log_probs[None, :] / 0.25)[0]  # softmax(logits / T), up to rounding
        got = [after.probabilities[name] for name in CLASSES]
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_predict_cli_on_a_saved_student(cache: dict[str, Path], tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner
    from transformers import AutoTokenizer

    from textdistill.cli import main

    student = train_student(
        cache["transfer"], cache["logits"], "simple_cnn", {}, TRAIN, build_loss("kd"), seed=0
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
    not_a_model = runner.invoke(main, ["predict", "--model", str(cache["logits"]), "x"])
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

    params = {"embedding_init": "teacher_pca", "freeze_embedding": True}
    student = train_student(
        cache["transfer"], cache["logits"], "simpler_cnn", params, TRAIN, build_loss("ce"), 0
    )
    expected = teacher_embedding(cache["encoder"], 128)
    torch.testing.assert_close(student.model.embedding.weight.detach(), expected)  # frozen
    plain = train_student(
        cache["transfer"], cache["logits"], "simpler_cnn", {}, TRAIN, build_loss("ce"), 0
    )
    assert not torch.allclose(plain.model.embedding.weight, expected)


def test_a_fine_tuned_encoder_teaches_through_the_same_path(
    cache: dict[str, Path], tmp_path: Path
) -> None:
    """`students.teacher: models/finetune/<model>`: its logits come from the classifier as saved,
    at its own max length, and students train on them as on the VDCNN's."""
    from textdistill.models.classifier import load_classifier, save_classifier

    classifier, tokenizer = load_classifier(cache["encoder"], CLASSES, seed=0)
    save_classifier(classifier, tokenizer, tmp_path / "bert")
    write_json(
        tmp_path / "bert" / "model.json", {"kind": "finetune", "classes": CLASSES, "max_length": 12}
    )
    texts = teacher_texts(cache["transfer"], cache["prepared"])
    logits, figures = compute_teacher_logits(
        [tmp_path / "bert"], texts, 8, torch.device("cpu"), "fp32", CLASSES
    )
    encoded = tokenizer(
        texts["test"][:3], truncation=True, max_length=12, padding=True, return_tensors="pt"
    )
    with torch.inference_mode():
        direct = classifier.eval()(encoded["input_ids"], encoded["attention_mask"]).numpy()
    np.testing.assert_allclose(logits["test"][:3], direct, rtol=1e-4, atol=1e-4)
    assert figures["rows"] == sum(len(t) for t in texts.values()) and figures["texts_per_s"] > 0
    write_logits(logits, tmp_path / "logits")
    student = train_student(
        cache["transfer"], tmp_path / "logits", "simpler_cnn", {}, TRAIN, build_loss("mse"), 0
    )
    assert student.result.extra["train_rows"] == len(logits["transfer"])


def _fine_tuned(encoder: Path, seed: int, out: Path) -> Path:
    return saved_classifier(encoder, CLASSES, seed, out)


def test_the_distill_benchmark_times_one_teachers_pass_in_fp32_and_bf16(
    cache: dict[str, Path], tmp_path: Path
) -> None:
    """benchmarks/distill_bench.py's precision pair runs the teacher the stage runs, twice."""
    pair = benchmark("distill_bench").precision_pair(
        _fine_tuned(cache["encoder"], 0, tmp_path / "bert"),
        teacher_texts(cache["transfer"], cache["prepared"]),
        8,
        torch.device("cpu"),
        CLASSES,
    )
    assert pair["fp32"]["texts_per_s"] > 0 and pair["bf16"]["texts_per_s"] > 0
    assert pair["bf16_max_abs_logit_difference"] > 0  # bf16 rounds the logits
    assert 0.5 < pair["bf16_same_class"] <= 1.0


def test_an_ensemble_teaches_with_its_members_mean_logits(
    cache: dict[str, Path], tmp_path: Path
) -> None:
    """`students.teacher: models/finetune`: the logits are the mean of the members' raw logits,
    each member's pass is timed, and the ensemble's scores and cost are what its members give."""
    from textdistill.evaluate import classification_metrics, count_parameters, fit_temperature
    from textdistill.teaching import ensemble_cost, teacher_scores

    members = [_fine_tuned(cache["encoder"], seed, tmp_path / f"m{seed}") for seed in (0, 1)]
    texts = teacher_texts(cache["transfer"], cache["prepared"])
    alone = [
        compute_teacher_logits([m], texts, 8, torch.device("cpu"), "fp32", CLASSES)[0]
        for m in members
    ]
    assert not np.allclose(alone[0]["test"], alone[1]["test"])  # two different teachers
    logits, figures = compute_teacher_logits(
        members, texts, 8, torch.device("cpu"), "fp32", CLASSES
    )
    for split in texts:
        np.testing.assert_allclose(
            logits[split], (alone[0][split] + alone[1][split]) / 2, rtol=1e-5, atol=1e-5
        )
    assert [m["teacher"] for m in figures["members"]] == [str(m) for m in members]
    assert figures["seconds"] == pytest.approx(sum(m["seconds"] for m in figures["members"]))

    scores = teacher_scores(logits, cache["prepared"], CLASSES)
    labels = {
        n: pd.read_parquet(cache["prepared"] / f"{n}.parquet")["label"] for n in ("val", "test")
    }
    temperature = fit_temperature(logits["val"], labels["val"].to_numpy())
    assert scores["calibration"]["temperature"] == pytest.approx(temperature, abs=1e-4)
    expected = classification_metrics(logits["test"] / temperature, labels["test"].to_numpy(), 2)
    assert scores["test"] == pytest.approx(expected)
    assert scores["test"]["accuracy"] == pytest.approx(
        float((logits["test"].argmax(1) == labels["test"].to_numpy()).mean())
    )

    cost = ensemble_cost(members, texts["test"][:4])
    assert cost["model"]["parameters"] == 2 * count_parameters(load_model(members[0])[0])
    assert cost["cpu"]["latency_ms"] > 0 and cost["model"]["size_mb"] > 0


def test_an_ensemble_of_one_fine_tune_still_reports_its_cost(
    cache: dict[str, Path], tmp_path: Path
) -> None:
    """The teacher_logits stage with `students.teacher: models/finetune` and one fine-tune: the
    leaderboard shows the ensemble row whatever its size, so its metrics must hold its cost (a
    one-member ensemble once lost it and evaluate failed on the missing key)."""
    import yaml
    from click.testing import CliRunner

    from stages.teacher_logits import main as teacher_logits_main
    from textdistill.evaluate import count_parameters

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["finetune"] |= {"dataset": params["teacher"]["dataset"], "models": {"bert": {}}}
    params["students"]["teacher"] = "models/finetune"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    member = _fine_tuned(cache["encoder"], 0, tmp_path / "finetune" / "bert")
    metrics = tmp_path / "teacher_logits.json"
    args = ["--teacher", tmp_path / "finetune", "--transfer", cache["transfer"]]
    args += ["--data", cache["prepared"], "--out", tmp_path / "logits", "--metrics", metrics]
    done = CliRunner().invoke(
        teacher_logits_main, [str(a) for a in args] + ["--params", str(tmp_path / "params.yaml")]
    )
    assert done.exit_code == 0, done.output
    figures = read_json(metrics)
    assert figures["teacher"] == str(member)
    assert figures["model"]["parameters"] == count_parameters(load_model(member)[0])
    assert figures["cpu"]["latency_ms"] > 0


def test_an_unlabelled_source_that_is_missing_or_not_utf8_is_named(tmp_path: Path) -> None:
    from textdistill.config import UnlabelledSource
    from textdistill.errors import DataError
    from textdistill.teaching import read_unlabelled

    with pytest.raises(DataError, match="absent.txt: no such file"):
        read_unlabelled(UnlabelledSource(path=str(tmp_path / "absent.txt")), CLEAN)
    (tmp_path / "latin1.txt").write_bytes("goal match\ncaf\xe9 match\n".encode("latin-1"))
    with pytest.raises(DataError, match="latin1.txt:2"):
        read_unlabelled(UnlabelledSource(path=str(tmp_path / "latin1.txt")), CLEAN)
    (tmp_path / "news.txt").write_text("Goal!!  match\n\n?!\nchip, data\n", encoding="utf-8")
    assert read_unlabelled(UnlabelledSource(path=str(tmp_path / "news.txt")), CLEAN) == [
        "Goal match",
        "chip data",
    ]

"""benchmarks/finetune_bench.py and benchmarks/latency_bench.py on a tiny real encoder: both run
in `make bench` only, so these tests are what keeps them from breaking unnoticed."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import benchmark, saved_classifier

from textdistill.config import EncoderSpec
from textdistill.io import write_json
from textdistill.models.pretrained import materialize_named

CLASSES = ["sports", "tech"]
WORDS = {0: "match goal team coach season", 1: "software chip internet data code"}


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    texts = [
        " ".join(rng.choice(WORDS[label].split(), 5 + i % 4)) for i, label in enumerate(labels)
    ]
    return pd.DataFrame({"id": [f"r-{i}" for i in range(n)], "text": texts, "label": labels})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A one-layer encoder derived from the packaged MiniLM, and prepared data for it."""
    root = tmp_path_factory.mktemp("bench")
    specs = {
        "bert": EncoderSpec(source="package"),
        "tiny": EncoderSpec(source="derive", base="bert", layers=[0]),
    }
    materialize_named("tiny", specs, root / "encoder")
    prepared = root / "prepared"
    prepared.mkdir()
    for seed, name in enumerate(("train", "val", "test")):
        frame(32 if name == "train" else 12, seed).to_parquet(prepared / f"{name}.parquet")
    write_json(prepared / "classes.json", CLASSES)
    return {"encoder": root / "encoder", "prepared": prepared}


def test_the_finetune_benchmark_trains_the_engine_and_the_trainer_on_the_same_examples(
    tiny: dict[str, Path],
) -> None:
    bench = benchmark("finetune_bench")
    args = argparse.Namespace(
        data=tiny["prepared"],
        encoder=tiny["encoder"],
        epochs=2,
        batch_size=8,
        max_length=16,
        lr=1e-3,
        seed=0,
        device="cpu",
        gpu=False,
        compile=False,
        compile_pair=False,
        precision_examples=16,
    )
    runs = bench.all_runs(args)
    assert set(runs) == {
        "engine",
        "trainer",
        "trainer_grouped",
        "engine_bf16_subset",
        "engine_fp32_subset",
    }
    # validation and test are pooled into one held-out set for every run
    assert {run["train_examples"] for run in runs.values()} == {32, 16}
    assert runs["engine"]["train_examples"] == runs["trainer"]["train_examples"] == 32
    assert runs["engine_bf16_subset"]["precision"] == "bf16"
    assert runs["engine_fp32_subset"]["precision"] == "fp32"
    engine = runs["engine"]
    assert len(engine["epoch_seconds"]) == 2 and engine["steady_tokens_per_s"] > 0
    assert 0 < engine["non_embedding_parameters"] < engine["parameters"]
    summary = bench.summarize(runs, args)
    assert summary["speedup_vs_trainer"] == pytest.approx(
        engine["samples_per_s"] / runs["trainer"]["samples_per_s"], rel=1e-2
    )
    assert summary["precision_runs"] == ("engine_bf16_subset", "engine_fp32_subset")
    assert summary["bf16_over_fp32_speed"] > 0


def test_steady_throughput_leaves_out_the_first_epoch() -> None:
    bench = benchmark("finetune_bench")
    records = [argparse.Namespace(seconds=s) for s in (9.0, 2.0, 4.0)]
    result = argparse.Namespace(history=records, train_tokens=300)
    # 100 tokens an epoch over the median of the later epochs (3 s)
    assert bench.steady_tokens_per_s(result) == pytest.approx(100 / 3.0, abs=0.1)
    assert (
        bench.steady_tokens_per_s(argparse.Namespace(history=records[:1], train_tokens=1)) is None
    )


def test_the_latency_benchmark_times_each_student_against_the_teacher(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    bench = benchmark("latency_bench")
    teacher = saved_classifier(tiny["encoder"], CLASSES, 0, tmp_path / "teacher")
    student = saved_classifier(tiny["encoder"], CLASSES, 1, tmp_path / "student")
    texts = frame(6, 3)["text"].tolist()
    figures = bench.measure(teacher, [student], texts, rounds=2)
    assert figures["teacher"]["model"] == str(teacher) and figures["teacher"]["latency_ms"] > 0
    timed = figures["students"][str(student)]
    assert timed["latency_ms"] > 0 and timed["tokenizer_call_latency_ms"] > 0
    assert timed["speedup_vs_teacher"] == pytest.approx(
        figures["teacher"]["latency_ms"] / timed["latency_ms"], abs=0.06
    )
    assert timed["parameters"] == figures["teacher"]["parameters"]  # the same architecture

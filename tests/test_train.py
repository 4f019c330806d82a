"""The training engine on a tiny model: learning, determinism, checkpoints and resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import CONFIG, toy_data, toy_split

from textdistill.data.batching import Encoded, collate, train_batches
from textdistill.losses import build_loss
from textdistill.models.cnn import build_student
from textdistill.train import CHECKPOINT, EpochRecord, Trainer


def make_trainer(config=CONFIG, **options) -> Trainer:
    torch.manual_seed(0)  # the engine seeds training, not the model's initial weights
    model = build_student("simpler_cnn", 2, vocab_size=64, embed_dim=16)
    return Trainer(model, build_loss("ce"), config, seed=3, **options)


def test_batches_cover_every_example_once_and_repeat_per_epoch() -> None:
    lengths = np.random.default_rng(0).integers(1, 50, size=101)
    batches = train_batches(lengths, 8, seed=1, epoch=1)
    assert sorted(np.concatenate(batches).tolist()) == list(range(101))
    assert all(
        np.array_equal(a, b) for a, b in zip(batches, train_batches(lengths, 8, 1, 1), strict=True)
    )
    other = train_batches(lengths, 8, seed=1, epoch=2)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other, strict=False))
    full = train_batches(lengths, 8, seed=1, epoch=1, drop_last=True)
    assert all(len(b) == 8 for b in full) and len(full) == 101 // 8


def test_collate_pads_dynamically() -> None:
    data = Encoded(
        [np.array([5, 6, 7]), np.array([8])], np.array([1, 0]), {"teacher_logits": np.ones((2, 2))}
    )
    batch = collate(data, np.array([0, 1]))
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["teacher_logits"].shape == (2, 2)


def test_engine_learns_and_selects_on_validation() -> None:
    result = make_trainer().fit(*toy_data())
    assert result.test_metrics["accuracy"] > 0.8
    assert len(result.history) == 3
    best = max(result.history, key=lambda r: (r.val_metrics["accuracy"], -r.val_loss))
    assert result.best_epoch == best.epoch
    assert result.train_samples == 3 * 192


def test_same_seed_same_metrics_on_cpu() -> None:
    first, second = make_trainer().fit(*toy_data()), make_trainer().fit(*toy_data())
    assert first.history[-1].train_loss == second.history[-1].train_loss
    assert first.test_metrics == second.test_metrics
    np.testing.assert_array_equal(first.test_logits, second.test_logits)


@pytest.mark.slow  # inductor compiles C++ for the CPU: tens of seconds
def test_a_compiled_run_trains_like_the_eager_one_and_keeps_the_plain_model() -> None:
    eager = make_trainer().fit(*toy_data())
    engine = make_trainer(CONFIG.model_copy(update={"compile": True}))  # same initial weights
    compiled = engine.fit(*toy_data())
    # Fused kernels round differently: close to the eager run, not bit-identical.
    np.testing.assert_allclose(
        [r.train_loss for r in compiled.history], [r.train_loss for r in eager.history], rtol=1e-3
    )
    assert compiled.test_metrics["accuracy"] == pytest.approx(
        eager.test_metrics["accuracy"], abs=0.02
    )
    # What is saved is the plain module: no compiled wrapper, no "_orig_mod." in its keys.
    assert not hasattr(engine.model, "_orig_mod")
    assert engine.model.state_dict().keys() == make_trainer().model.state_dict().keys()


class Interrupted(Exception):
    pass


def test_an_interrupted_run_resumes_and_ends_like_an_uninterrupted_one(tmp_path: Path) -> None:
    uninterrupted = make_trainer().fit(*toy_data())

    def crash_after_epoch_2(record) -> None:
        if record.epoch == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        make_trainer(checkpoint_dir=tmp_path, fingerprint="run", on_epoch=crash_after_epoch_2).fit(
            *toy_data()
        )
    assert (tmp_path / CHECKPOINT).is_file()
    resumed = make_trainer(checkpoint_dir=tmp_path, fingerprint="run").fit(*toy_data())
    assert resumed.resumed_from_epoch == 2
    assert [r.val_loss for r in resumed.history] == [r.val_loss for r in uninterrupted.history]
    assert resumed.test_metrics == uninterrupted.test_metrics
    np.testing.assert_array_equal(resumed.test_logits, uninterrupted.test_logits)


def test_a_checkpoint_of_other_params_is_ignored(tmp_path: Path) -> None:
    make_trainer(checkpoint_dir=tmp_path, fingerprint="old").fit(*toy_data())
    fresh = make_trainer(checkpoint_dir=tmp_path, fingerprint="new").fit(*toy_data())
    assert fresh.resumed_from_epoch == 0 and len(fresh.history) == 3


def untimed(history: list[EpochRecord]) -> list[EpochRecord]:
    return [replace(record, seconds=0.0) for record in history]


def test_patience_stops_after_epochs_without_improvement_and_resumes_stopped(
    tmp_path: Path,
) -> None:
    """lr 0.05 peaks at epoch 2 of 10 on the toy data: patience 2 ends after epoch 4 with the
    same epochs and the same best model as a 4-epoch run (constant schedule), and a run killed
    after its last epoch resumes to the same result without training again."""

    def trainer(epochs: int, patience: int | None, **options) -> Trainer:
        config = CONFIG.model_copy(update={"epochs": epochs, "lr": 0.05, "patience": patience})
        torch.manual_seed(0)
        model = build_student("simpler_cnn", 2, vocab_size=64, embed_dim=16)
        return Trainer(model, build_loss("ce"), config, seed=3, **options)

    full = trainer(10, None).fit(*toy_data())
    assert full.best_epoch == 2 and len(full.history) == 10
    stopped = trainer(10, 2).fit(*toy_data())
    assert [r.epoch for r in stopped.history] == [1, 2, 3, 4] and stopped.best_epoch == 2
    assert untimed(stopped.history) == untimed(full.history[:4])
    four = trainer(4, None).fit(*toy_data())
    assert stopped.test_metrics == four.test_metrics
    np.testing.assert_array_equal(stopped.test_logits, four.test_logits)

    def crash_after_epoch_4(record) -> None:
        if record.epoch == 4:
            raise Interrupted

    with pytest.raises(Interrupted):
        trainer(10, 2, checkpoint_dir=tmp_path, fingerprint="p", on_epoch=crash_after_epoch_4).fit(
            *toy_data()
        )
    resumed = trainer(10, 2, checkpoint_dir=tmp_path, fingerprint="p").fit(*toy_data())
    assert resumed.resumed_from_epoch == 4
    assert untimed(resumed.history) == untimed(stopped.history)
    assert resumed.test_metrics == stopped.test_metrics


@pytest.mark.filterwarnings("ignore:DIST with 2 classes")
def test_kd_needs_cached_logits_and_drops_partial_batches() -> None:
    train, val, test = toy_data()
    model = build_student("simpler_cnn", 2, vocab_size=64, embed_dim=16)
    trainer = Trainer(model, build_loss("dist"), CONFIG, seed=3)
    with pytest.raises(ValueError, match="teacher logits"):
        trainer.fit(train, val, test)
    train = toy_split(100, 0)
    train.extras["teacher_logits"] = (
        np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32)
    )
    result = trainer.fit(train, val, test)
    assert result.train_samples == 3 * (100 // 8) * 8


@pytest.mark.parametrize("seed", range(6))
def test_macro_f1_matches_scikit_learn_including_absent_classes(seed: int) -> None:
    from sklearn.metrics import f1_score

    from textdistill.evaluate import macro_f1

    rng = np.random.default_rng(seed)
    classes = int(rng.integers(2, 7))
    labels = rng.integers(0, classes - seed % 2, 50)  # odd seeds: the last class never occurs
    predictions = np.where(rng.random(50) < 0.6, labels, rng.integers(0, classes, 50))
    expected = f1_score(labels, predictions, average="macro", labels=list(range(classes)))
    assert macro_f1(labels, predictions, classes) == pytest.approx(expected, abs=1e-12)

"""Multitask fine-tuning: the batch schedules' proportions, the summed loss by hand, and a tiny
encoder that learns a classification and a regression task at once on the one engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import toy_split
from transformers import AutoModel, BertConfig

from textdistill.config import TrainConfig
from textdistill.data.batching import Encoded, collate
from textdistill.data.schemas import Task
from textdistill.losses import REGRESSION_LOSS, build_loss
from textdistill.models.multitask import MultiTaskModel, TaskHead
from textdistill.multitask import (
    TASK_ID,
    MultiTaskLoss,
    combine,
    multitask_batches,
    multitask_objective,
)
from textdistill.train import Trainer

CLASSES = TaskHead("toy", Task(("no", "yes")), weight=1.0)
TARGET = TaskHead("count", Task((), (0.0, 5.0)), weight=2.0)


def task_ids(*sizes: int) -> np.ndarray:
    return np.concatenate([np.full(n, t) for t, n in enumerate(sizes)])


def test_proportional_batches_cover_each_example_once_in_one_task_batches() -> None:
    ids = task_ids(100, 30, 7)
    lengths = np.random.default_rng(0).integers(1, 40, size=len(ids))
    batches = multitask_batches(ids, lengths, 8, seed=1, epoch=1, schedule="proportional")
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(ids)))
    assert all(len(set(ids[b].tolist())) == 1 for b in batches)  # one task per batch
    per_task = np.bincount([ids[b[0]] for b in batches])
    assert per_task.tolist() == [13, 4, 1]  # ceil(n_t / 8): steps in proportion to size
    again = multitask_batches(ids, lengths, 8, seed=1, epoch=1, schedule="proportional")
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    other = multitask_batches(ids, lengths, 8, seed=1, epoch=2, schedule="proportional")
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other, strict=False))


def test_round_robin_takes_the_tasks_in_turn_as_often_as_the_largest() -> None:
    ids = task_ids(100, 30, 7)
    lengths = np.ones(len(ids), dtype=np.int64)
    batches = multitask_batches(ids, lengths, 8, seed=1, epoch=1, schedule="round_robin")
    order = [int(ids[b[0]]) for b in batches]
    assert order == [0, 1, 2] * 13  # 13 batches of the largest task, the others repeat
    small = np.concatenate([b for b in batches if ids[b[0]] == 2])
    assert set(small.tolist()) == set(np.flatnonzero(ids == 2).tolist())  # all 7, reused
    assert all(len(set(ids[b].tolist())) == 1 for b in batches)


def test_the_summed_loss_is_each_tasks_loss_weighted_by_hand() -> None:
    heads = [CLASSES, TARGET]
    loss = MultiTaskLoss(heads, [build_loss("ce"), build_loss(REGRESSION_LOSS)])
    outputs = torch.tensor([[2.0, -1.0], [0.5, 0.2], [3.0, 0.0], [1.0, 0.0], [4.5, 0.0]])
    batch = {
        TASK_ID: torch.tensor([0, 0, 1, 1, 1]),
        "labels": torch.tensor([0.0, 1.0, 2.5, 1.0, 4.0]),
    }
    ce = F.cross_entropy(outputs[:2], torch.tensor([0, 1]))
    mse = ((outputs[2:, 0] - torch.tensor([2.5, 1.0, 4.0])) ** 2).mean()
    expected = 1.0 * ce * 2 / 5 + 2.0 * mse * 3 / 5
    assert loss.of_batch(outputs, batch).item() == pytest.approx(expected.item(), rel=1e-6)


def count_split(n: int, seed: int) -> Encoded:
    """Regression toy: the target is how often token 9 occurs (0-5 times)."""
    rng = np.random.default_rng(seed)
    rows, targets = [], []
    for _ in range(n):
        row = rng.integers(10, 50, size=8)
        count = int(rng.integers(0, 6))
        row[:count] = 9
        rows.append(rng.permutation(row).astype(np.int64))
        targets.append(float(count))
    return Encoded(rows, np.array(targets))


def test_one_encoder_learns_a_class_task_and_a_regression_task_at_once() -> None:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
    )
    heads = [CLASSES, TARGET]
    model = MultiTaskModel(AutoModel.from_config(config), heads, dropout=0.0)
    data = {
        name: combine([toy_split(n, seed), count_split(n, seed + 10)])
        for name, n, seed in (("train", 256, 0), ("val", 64, 1), ("test", 64, 2))
    }
    batch = collate(data["train"], np.array([0, 300]))
    assert batch["token_type_ids"].shape == batch["input_ids"].shape  # single texts: zeros
    train = TrainConfig(epochs=6, batch_size=16, lr=3e-3, eval_batch_size=32, device="cpu")
    loss = MultiTaskLoss(heads, [build_loss("ce"), build_loss(REGRESSION_LOSS)])
    trainer = Trainer(
        model,
        loss,
        train,
        inputs=("input_ids", "attention_mask", "token_type_ids", TASK_ID),
        seed=1,
        objective=multitask_objective(heads),
        batches=lambda d, epoch: multitask_batches(
            d.extras[TASK_ID], d.lengths, 16, 1, epoch, "round_robin"
        ),
    )
    result = trainer.fit(data["train"], data["val"], data["test"])
    test = result.test_metrics
    assert test["toy/accuracy"] > 0.85
    assert test["count/pearson"] > 0.8
    assert test["score"] == pytest.approx((test["toy/accuracy"] + test["count/pearson"]) / 2)
    best = max(result.history, key=lambda r: (r.val_score, -r.val_loss))
    assert result.best_epoch == best.epoch
    assert set(best.row()) >= {"val_score", "val_toy/accuracy", "val_count/pearson"}

"""Several tasks on one encoder (the minBERT study): a head per task, batches drawn across tasks.

Every task's examples go into one `Encoded` (`combine`), each row tagged with its task's index
(`task_id`); the training engine then runs unchanged, given three task-aware parts:
- `MultiTaskModel` (`models.multitask`, with its save and load): the shared encoder,
  mean-pooled, and one linear head per task (classes, or one output for a regression
  target); a row's outputs come from its own task's head;
- `MultiTaskLoss`: each task's own loss on its rows and its head's columns, weighted per task;
- `multitask_batches`: batches of one task each (length-grouped within the task), drawn
  `proportional` to the tasks' sizes (every example once per epoch) or `round_robin` (the tasks
  in turn, as many batches each as the largest task has: smaller tasks repeat examples);
- `multitask_objective`: each task scored by its own metrics, the best epoch by their mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from textdistill.config import Params, TrainConfig
from textdistill.data.batching import Encoded, encode, train_batches
from textdistill.data.prepare import read_prepared_task, read_task
from textdistill.data.schemas import Task
from textdistill.data.split import SPLITS
from textdistill.errors import ParamsError
from textdistill.io import read_json
from textdistill.lifecycle import DataRef, Fitted, Runnable, describe_training, model_size_mb
from textdistill.losses import REGRESSION_LOSS, Loss, build_loss
from textdistill.models.multitask import (
    MultiTaskModel,
    TaskHead,
    TaskView,
    save_multitask,
)
from textdistill.train import OBJECTIVES, Objective, Trainer

if TYPE_CHECKING:  # importing these costs seconds at start-up (transformers' model machinery)
    from transformers import PreTrainedTokenizerBase


TASK_ID = "task_id"
Schedule = Literal["proportional", "round_robin"]


class MultiTaskLoss(Loss):
    """L = Σ_t w_t · (n_t / n) · L_t: task t's own loss (`losses[t]`) on the batch's n_t rows of
    task t and its head's columns, weighted by `heads[t].weight` (Caruana, "Multitask
    Learning", 1997; the minBERT study sums CE, BCE and MSE). With batches of one task each
    (`multitask_batches`), a step's loss is that task's loss times its weight.
    """

    task = "multitask"

    def __init__(self, heads: Sequence[TaskHead], losses: Sequence[Loss]) -> None:
        super().__init__()
        self.task_heads = list(heads)
        self.losses = nn.ModuleList(losses)

    def of_batch(self, outputs: Tensor, batch: dict[str, Tensor]) -> Tensor:
        task_id = batch[TASK_ID].long()
        labels = batch["labels"]
        # One host sync per step: which tasks the batch holds (usually one).
        counts = torch.bincount(task_id, minlength=len(self.task_heads)).tolist()
        total = outputs.new_zeros(())
        for index, (head, loss) in enumerate(zip(self.task_heads, self.losses, strict=True)):
            if counts[index] == 0:
                continue
            rows = task_id == index
            target = labels[rows] if head.task.regression else labels[rows].long()
            part = loss(outputs[rows, : head.outputs].float(), target)
            total = total + head.weight * part * (counts[index] / len(task_id))
        return total


def combine(parts: Sequence[Encoded]) -> Encoded:
    """Every task's examples in one `Encoded`, task t's rows tagged `task_id` t. Labels become
    float64 (class ids stay exact); `MultiTaskLoss` casts a classification task's back."""
    ids = [row for part in parts for row in part.input_ids]
    labels = np.concatenate([part.labels.astype(np.float64) for part in parts])
    task_ids = np.concatenate(
        [np.full(len(part), t, dtype=np.int64) for t, part in enumerate(parts)]
    )
    types = [
        row
        for part in parts
        for row in (part.token_type_ids or [np.zeros_like(r) for r in part.input_ids])
    ]
    return Encoded(ids, labels, {TASK_ID: task_ids}, token_type_ids=types)


def multitask_batches(
    task_ids: np.ndarray,
    lengths: np.ndarray,
    batch_size: int,
    seed: int,
    epoch: int,
    schedule: Schedule = "proportional",
    drop_last: bool = False,
) -> list[np.ndarray]:
    """One epoch's batches, each from one task, seeded by (seed, epoch) alone (resumable).

    `proportional`: every task's length-grouped batches, shuffled together, so a task's share
    of the steps is its share of the examples. `round_robin`: task 0, 1, ..., 0, 1, ... with as
    many batches per task as the largest task has; a smaller task cycles through reshuffled
    passes of its examples.
    """
    tasks = np.unique(task_ids)
    per_task = []
    for task in tasks.tolist():
        rows = np.flatnonzero(task_ids == task)
        passes = [_task_batches(rows, lengths, batch_size, seed, epoch, task, 0, drop_last)]
        per_task.append((rows, passes))
    if schedule == "proportional":
        batches = [batch for _, passes in per_task for batch in passes[0]]
        order = np.random.default_rng([seed, epoch]).permutation(len(batches))
        return [batches[i] for i in order]
    longest = max(len(passes[0]) for _, passes in per_task)
    cycled = []
    for (rows, passes), task in zip(per_task, tasks.tolist(), strict=True):
        while sum(map(len, passes)) < longest:  # another pass, in another order
            passes.append(
                _task_batches(rows, lengths, batch_size, seed, epoch, task, len(passes), drop_last)
            )
        cycled.append([batch for one_pass in passes for batch in one_pass][:longest])
    return [task_batches[i] for i in range(longest) for task_batches in cycled]


def _task_batches(
    rows: np.ndarray,
    lengths: np.ndarray,
    batch_size: int,
    seed: int,
    epoch: int,
    task: int,
    repeat: int,
    drop_last: bool,
) -> list[np.ndarray]:
    """One pass over a task's rows in length-grouped batches, its own seed per task and pass."""
    task_seed = int(np.random.default_rng([seed, task, repeat]).integers(2**31))
    local = train_batches(lengths[rows], batch_size, task_seed, epoch, drop_last)
    return [rows[batch] for batch in local]


def multitask_objective(heads: Sequence[TaskHead]) -> Objective:
    """Each task scored by its own objective on its rows; the score is the tasks' mean score
    (e.g. SST accuracy, Quora accuracy, STS Pearson), the loss their mean loss."""
    objectives = [OBJECTIVES[head.task.kind] for head in heads]

    def evaluate(outputs: np.ndarray, data: Encoded) -> dict[str, float]:
        task_ids = data.extras[TASK_ID]
        metrics: dict[str, float] = {}
        scores, losses = [], []
        for index, (head, objective) in enumerate(zip(heads, objectives, strict=True)):
            rows = np.flatnonzero(task_ids == index)
            part = data.subset(rows)
            if not head.task.regression:
                part.labels = part.labels.astype(np.int64)
            found = objective.evaluate(outputs[rows, : head.outputs], part)
            metrics |= {f"{head.name}/{name}": value for name, value in found.items()}
            scores.append(found[objective.score])
            losses.append(found["loss"])
        return metrics | {"score": float(np.mean(scores)), "loss": float(np.mean(losses))}

    curves = tuple(
        f"{head.name}/{objective.score}" for head, objective in zip(heads, objectives, strict=True)
    )
    return Objective(evaluate, score="score", curves=("score", *curves))


# --- the multitask stages, for `lifecycle.run_training_stage` ------------------------------

JOINT = "joint"  # the model of every task; a single-task model is named after its task
INPUTS = ("input_ids", "attention_mask", "token_type_ids", TASK_ID)


@dataclass
class MultitaskJob:
    """`multitask` (every task at once) or `multitask_single@<task>` (one task alone)."""

    name: str  # JOINT, or the one task's name
    heads: list[TaskHead]
    datasets: tuple[DataRef, ...]  # one per task, in the heads' order
    encoder_dir: Path
    config: TrainConfig
    schedule: Schedule
    dropout: float
    seed: int
    latency_examples: int
    log_model: bool = False  # `textdistill predict` reloads it from its directory

    @classmethod
    def from_params(
        cls, params: Params, name: str, encoder_dir: Path, prepared_root: Path
    ) -> MultitaskJob:
        section = params.multitask_config()
        tasks = section.tasks if name == JOINT else {name: _task(section.tasks, name)}
        heads, datasets = [], []
        for task_name, spec in tasks.items():
            prepared = prepared_root / spec.dataset
            heads.append(TaskHead(task_name, read_task(prepared), spec.weight))
            datasets.append(DataRef.from_params(params, spec.dataset, prepared))
        return cls(
            name=name,
            heads=heads,
            datasets=tuple(datasets),
            encoder_dir=encoder_dir,
            config=section.train_config(),
            # One task alone has nothing to schedule (and so does not read the key).
            schedule=section.schedule if name == JOINT else "proportional",
            dropout=section.dropout,
            seed=params.seed,
            latency_examples=section.latency_examples,
        )

    @property
    def stage(self) -> str:
        return "multitask" if self.name == JOINT else f"multitask_single@{self.name}"

    @property
    def device(self) -> str:
        return self.config.device

    @property
    def data(self) -> tuple[DataRef, ...]:
        return self.datasets

    @property
    def title(self) -> str:
        tasks = ", ".join(head.name for head in self.heads)
        return f"{self.encoder_dir.name} fine-tuned on {tasks}"

    @property
    def params(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "encoder": self.encoder_dir.name,
            "tasks": {
                head.name: {
                    "dataset": ref.name,
                    "weight": head.weight,
                    "task": head.task.describe(),
                }
                for head, ref in zip(self.heads, self.datasets, strict=True)
            },
            "schedule": self.schedule,
            "dropout": self.dropout,
            "train": self.config.model_dump(),
        }

    @property
    def inputs(self) -> list[Path]:
        return [self.encoder_dir, *(ref.prepared for ref in self.datasets)]

    @cached_property
    def _splits(self) -> list[dict[str, pd.DataFrame]]:
        return [read_prepared_task(ref.prepared)[1] for ref in self.datasets]

    def fit(self, **trainer_options: Any) -> Fitted:
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.encoder_dir)
        torch.manual_seed(self.seed)  # the heads' initial weights
        encoder = AutoModel.from_pretrained(self.encoder_dir)
        if getattr(encoder, "pooler", None) is not None:  # tokens are mean-pooled instead; an
            encoder.pooler = None  # unused layer would also stall DDP's gradient reduction
        model = MultiTaskModel(encoder, self.heads, self.dropout)
        data = {
            split: combine(
                [
                    encode_task(tokenizer, s[split], h.task, self.config.max_length)
                    for s, h in zip(self._splits, self.heads, strict=True)
                ]
            )
            for split in SPLITS
        }
        losses = [build_loss(REGRESSION_LOSS if h.task.regression else "ce") for h in self.heads]
        config, schedule = self.config, self.schedule
        trainer = Trainer(
            model,
            MultiTaskLoss(self.heads, losses),
            config,
            inputs=INPUTS,
            seed=self.seed,
            pad_id=tokenizer.pad_token_id or 0,
            objective=multitask_objective(self.heads),
            batches=lambda train, epoch: multitask_batches(
                train.extras[TASK_ID], train.lengths, config.batch_size, self.seed, epoch, schedule
            ),
            **trainer_options,
        )
        result = trainer.fit(data["train"], data["val"], data["test"])
        return Fitted(trainer.model, result, data["test"].labels, [], tokenizer)

    def save(self, fitted: Fitted, model_dir: Path) -> None:
        assert isinstance(fitted.model, MultiTaskModel)
        save_multitask(
            fitted.model,
            self.heads,
            fitted.tokenizer,
            self.config.max_length,
            self.dropout,
            [ref.clean for ref in self.datasets],
            model_dir,
        )

    def runnable(self, fitted: Fitted, model_dir: Path) -> Runnable:
        assert isinstance(fitted.model, MultiTaskModel)
        size = model_size_mb(model_dir)
        return Runnable(TaskView(fitted.model, 0), fitted.tokenizer, self.config.max_length, size)

    def latency_texts(self) -> list[str]:
        """The first task's first test texts (a pair's first text alone)."""
        return self._splits[0]["test"]["text"].tolist()[: self.latency_examples]

    def facts(self, fitted: Fitted, scores: Mapping[str, Any]) -> dict[str, Any]:
        source = read_json(self.encoder_dir / "source.json")
        tasks = "; ".join(
            f"{h.name}: {ref.name}, {h.task.describe()}, weight {h.weight}"
            for h, ref in zip(self.heads, self.datasets, strict=True)
        )
        return {
            "tasks": tasks,
            "base encoder": source.get("id") or self.encoder_dir.name,
            "batches": f"{self.schedule}, one task per batch",
            "training": describe_training(self.config),
            "best epoch (on the tasks' mean validation score)": fitted.result.best_epoch,
            "parameters": f"{scores['model']['parameters']:,}",
        }


def encode_task(
    tokenizer: PreTrainedTokenizerBase, frame: pd.DataFrame, task: Task, max_length: int
) -> Encoded:
    """A prepared split tokenized for its task: pairs as one `[CLS] a [SEP] b [SEP]` sequence."""
    pairs = frame["text_pair"].tolist() if task.pair else None
    return encode(tokenizer, frame["text"].tolist(), frame["label"].tolist(), max_length, pairs)


def _task(tasks: Mapping[str, Any], name: str) -> Any:
    if name not in tasks:
        raise ParamsError(f"params has no multitask.tasks.{name}; it lists {sorted(tasks)}")
    return tasks[name]

"""Several tasks on one encoder (the minBERT study): a head per task, batches drawn across tasks.

Every task's examples go into one `Encoded` (`combine`), each row tagged with its task's index
(`task_id`); the training engine then runs unchanged, given three task-aware parts:
- `MultiTaskModel`: the shared encoder, mean-pooled, and one linear head per task (classes, or
  one output for a regression target); a row's outputs come from its own task's head;
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
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from textdistill.config import Params, TrainConfig
from textdistill.data.batching import Encoded, encode, train_batches
from textdistill.data.prepare import read_prepared_task
from textdistill.data.schemas import Task
from textdistill.data.split import SPLITS
from textdistill.errors import ParamsError
from textdistill.io import read_json, write_json
from textdistill.lifecycle import DataRef, Fitted, Runnable, describe_training, model_size_mb
from textdistill.losses import REGRESSION_LOSS, Loss, build_loss
from textdistill.models.store import SPEC, read_spec
from textdistill.train import OBJECTIVES, Objective, Trainer, contiguous_state

TASK_ID = "task_id"
Schedule = Literal["proportional", "round_robin"]


@dataclass(frozen=True)
class TaskHead:
    """One task of a multitask model: its name (in metrics), what it predicts, its loss weight."""

    name: str
    task: Task
    weight: float = 1.0

    @property
    def outputs(self) -> int:
        return 1 if self.task.regression else len(self.task.classes)


class MultiTaskModel(nn.Module):
    """A shared encoder and one linear head per task.

    `forward(input_ids, attention_mask, token_type_ids, task_id)` gives (batch, widest head):
    row i holds its task's head's outputs, zeros past that head's width. The encoder's tokens
    are mean-pooled over the mask (how all-MiniLM-L6-v2 was trained to embed; a pair is one
    `[CLS] a [SEP] b [SEP]` sequence). Every head runs on every row and a mask keeps the
    right one: heads are tiny, and no per-task indexing means no host sync.
    """

    encoder: PreTrainedModel  # typed so that `.config` and `save_pretrained` type-check

    def __init__(self, encoder: PreTrainedModel, heads: Sequence[TaskHead], dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.widths = [head.outputs for head in heads]
        hidden = int(encoder.config.hidden_size)
        self.heads = nn.ModuleList(nn.Linear(hidden, width) for width in self.widths)
        self.width = max(self.widths)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor, task_id: Tensor
    ) -> Tensor:
        states = self.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids.long(),
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = self.dropout((states * mask).sum(1) / mask.sum(1).clamp(min=1))
        task_id = task_id.long()
        out = pooled.new_zeros(len(pooled), self.width)
        for index, (head, width) in enumerate(zip(self.heads, self.widths, strict=True)):
            values = nn.functional.pad(head(pooled), (0, self.width - width))
            out = torch.where((task_id == index).unsqueeze(1), values, out)
        return out


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
HEADS_FILE = "heads.safetensors"


class TaskView(nn.Module):
    """One task of a multitask model behind the project's `(input_ids, attention_mask)` call
    (for latency): single texts, token type 0."""

    def __init__(self, model: MultiTaskModel, index: int) -> None:
        super().__init__()
        self.model = model
        self.index = index
        self.outputs = model.widths[index]

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        task_id = torch.full((len(input_ids),), self.index, device=input_ids.device)
        outputs = self.model(input_ids, attention_mask, torch.zeros_like(input_ids), task_id)
        return outputs[:, : self.outputs]


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
            task, _ = read_prepared_task(prepared)
            heads.append(TaskHead(task_name, task, spec.weight))
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


def save_multitask(
    model: MultiTaskModel,
    heads: Sequence[TaskHead],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    dropout: float,
    cleans: Sequence[Mapping[str, Any]],
    model_dir: Path,
) -> None:
    """Write what `load_multitask` reads: the encoder, its tokenizer, the heads' weights and
    `model.json` (`kind: multitask`, and per task its name, weight, classes, task, pair,
    target_range and `clean`, the cleaning its texts had, in the heads' order)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    save_file(contiguous_state(model.heads.state_dict()), model_dir / HEADS_FILE)
    tasks = [
        {
            "name": head.name,
            "weight": head.weight,
            "classes": list(head.task.classes),
            **head.task.to_json(),
            "clean": dict(clean),  # what `predict` repeats on this task's texts
        }
        for head, clean in zip(heads, cleans, strict=True)
    ]
    spec = {"kind": "multitask", "tasks": tasks, "max_length": max_length, "dropout": dropout}
    write_json(model_dir / SPEC, spec)


def load_multitask(
    model_dir: Path,
) -> tuple[MultiTaskModel, dict[str, Any], PreTrainedTokenizerBase]:
    """A saved multitask model in eval mode, with its spec (`tasks`: name, classes or
    target_range, pair, clean; `max_length`) and its tokenizer."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    spec = read_spec(model_dir / SPEC)
    heads = [
        TaskHead(task["name"], Task.from_json(task["classes"], task), task["weight"])
        for task in spec["tasks"]
    ]
    # Saved without its pooler (tokens are mean-pooled), which transformers would report as
    # weights "newly initialized" on every load, after a progress bar: quiet for this call.
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        encoder = AutoModel.from_pretrained(
            model_dir, trust_remote_code=False, use_safetensors=True
        )
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    encoder.pooler = None
    model = MultiTaskModel(encoder, heads, spec["dropout"])
    model.heads.load_state_dict(load_file(model_dir / HEADS_FILE))
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
    return model.eval(), spec, tokenizer


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

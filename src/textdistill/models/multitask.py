"""A multitask model: one encoder, a head per task; how it is saved and loaded.

Training it (losses, batches across tasks, the stage) is `textdistill.multitask`'s; this
module is what `predict` needs to run one, without the training code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from textdistill.data.schemas import Task
from textdistill.io import contiguous_state, save_tokenizer, write_json
from textdistill.models.classifier import mean_pool, quiet_transformers
from textdistill.models.store import MULTITASK, SPEC, read_spec

if TYPE_CHECKING:  # importing these costs seconds at start-up (transformers' model machinery)
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


HEADS_FILE = "heads.safetensors"


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
        pooled = self.dropout(mean_pool(states, attention_mask))
        task_id = task_id.long()
        out = pooled.new_zeros(len(pooled), self.width)
        for index, (head, width) in enumerate(zip(self.heads, self.widths, strict=True)):
            values = nn.functional.pad(head(pooled), (0, self.width - width))
            out = torch.where((task_id == index).unsqueeze(1), values, out)
        return out


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
    save_tokenizer(tokenizer, model_dir)
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
    spec = {"kind": MULTITASK, "tasks": tasks, "max_length": max_length, "dropout": dropout}
    write_json(model_dir / SPEC, spec)


def load_multitask(
    model_dir: Path,
) -> tuple[MultiTaskModel, dict[str, Any], PreTrainedTokenizerBase]:
    """A saved multitask model in eval mode, with its spec (`tasks`: name, classes or
    target_range, pair, clean; `max_length`) and its tokenizer."""
    from transformers import AutoModel, AutoTokenizer

    spec = read_spec(model_dir / SPEC)
    heads = [
        TaskHead(task["name"], Task.from_json(task["classes"], task), task["weight"])
        for task in spec["tasks"]
    ]
    with quiet_transformers():  # saved without its pooler (tokens are mean-pooled)
        encoder = AutoModel.from_pretrained(
            model_dir, trust_remote_code=False, use_safetensors=True
        )
    encoder.pooler = None
    model = MultiTaskModel(encoder, heads, spec["dropout"])
    model.heads.load_state_dict(load_file(model_dir / HEADS_FILE))
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
    return model.eval(), spec, tokenizer

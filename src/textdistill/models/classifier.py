"""Encoders with a classification head: `AutoModelForSequenceClassification`, one path for all.

Wrapped so that every model in the project has the same call, `model(input_ids,
attention_mask) -> logits`, and the training engine needs no per-architecture code.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch
from safetensors import SafetensorError
from torch import Tensor, nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from textdistill.errors import TextdistillError
from textdistill.io import atomic_dir

if TYPE_CHECKING:  # importing these costs seconds at start-up (transformers' model machinery)
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class SequenceClassifier(nn.Module):
    """A Hugging Face sequence classifier behind `(input_ids, attention_mask) -> logits`."""

    # Typed as the Hugging Face model, not nn.Module, so `.config` and its label maps type-check.
    model: PreTrainedModel

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        logits: Tensor = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        return logits


def load_classifier(
    model_dir: Path, classes: Sequence[str] | None = None, seed: int = 0
) -> tuple[SequenceClassifier, PreTrainedTokenizerBase]:
    """Load an encoder directory with a classification head for `classes`.

    From a bare encoder, the head is new and initialised under `seed` (so runs repeat); from a
    fine-tuned directory (`classes=None`), the saved head and label names are kept.
    """
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise TextdistillError(f"{model_dir} is not a model directory (no config.json)")
    labels = {}
    if classes is not None:
        labels = {
            "num_labels": len(classes),
            "id2label": dict(enumerate(classes)),
            "label2id": {name: i for i, name in enumerate(classes)},
        }
    torch.manual_seed(seed)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, trust_remote_code=False, use_safetensors=True, **labels
        )
        tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
    except (SafetensorError, OSError, ValueError) as error:
        # transformers says "not a valid JSON file" or a safetensors header error; which
        # directory, and what fixes it, is ours to say. (OSError: transformers' wording for
        # an unreadable config or missing weights; a full disk cannot happen while reading.)
        where = model_dir / "model.safetensors" if isinstance(error, SafetensorError) else model_dir
        raise TextdistillError(
            f"{where} is not a valid textdistill model: {str(error).splitlines()[0]}; "
            "rerun the stage that made it (dvc repro -f <stage>)"
        ) from error
    return SequenceClassifier(model), tokenizer


def save_classifier(
    classifier: SequenceClassifier, tokenizer: PreTrainedTokenizerBase, out_dir: Path
) -> None:
    """Write weights (safetensors), config and tokenizer as one atomic directory."""
    with atomic_dir(out_dir) as tmp:
        classifier.model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)


def class_names(model: SequenceClassifier) -> list[str]:
    # transformers types id2label loosely (str keys, or None); a loaded config has int keys.
    id2label = cast(dict[int, str], model.model.config.id2label)
    return [id2label[i] for i in sorted(id2label)]

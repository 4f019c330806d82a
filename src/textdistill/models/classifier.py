"""Encoders with a classification head, behind one call: `model(input_ids, attention_mask)`.

Two heads, chosen by `finetune.pooling`:

* `pooler` (default): `AutoModelForSequenceClassification`, the head the encoder's own class
  defines (for BERT: dropout and a linear layer over the pooler's tanh(W h_[CLS] + b)), the
  source's setting and the path every Hugging Face encoder supports.
* `mean`: the encoder's token states averaged over the attention mask, dropout, one linear
  layer (`MeanPooledClassifier`). That is how sentence-transformers encoders such as
  all-MiniLM-L6-v2 were trained to embed a text (their `1_Pooling/config.json`:
  `pooling_mode_mean_tokens`); their pooler layer was never trained, so the `pooler` head
  starts from an untrained layer. On the real AG News the mean head scored +0.55 and +0.05
  points over the pooler head on two splits (one seed each: within noise; README).

Wrapped so that the training engine, `predict` and the teacher_logits stage need no
per-architecture code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from textdistill.errors import TextdistillError
from textdistill.io import atomic_dir, contiguous_state, save_tokenizer

if TYPE_CHECKING:  # importing these costs seconds at start-up (transformers' model machinery)
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

POOLINGS = ("pooler", "mean")
Pooling = Literal["pooler", "mean"]
HEAD_FILE = "head.safetensors"  # a mean-pooled classifier's linear layer
HEAD_DROPOUT = 0.1  # before the mean-pooled head, as sentence-transformers' and BERT's heads


def mean_pool(states: Tensor, attention_mask: Tensor) -> Tensor:
    """(B, L, H) token states -> (B, H): their mean over the positions where the mask is 1
    (a row without any is 0, not nan)."""
    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(1) / mask.sum(1).clamp(min=1)


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

    def save(self, out_dir: Path) -> None:
        self.model.save_pretrained(out_dir, safe_serialization=True)


class MeanPooledClassifier(SequenceClassifier):
    """A bare encoder (`AutoModel`, no pooler), its tokens mean-pooled over the mask, dropout
    and `Linear(hidden, classes)`. The class names live in the encoder's config, as they do
    in a `pooler` classifier's."""

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__(model)
        encoder: Any = model  # transformers types its layers and config loosely
        if getattr(encoder, "pooler", None) is not None:  # unused: it would also stall DDP's
            encoder.pooler = None  # gradient reduction, and it is not saved
        self.dropout = nn.Dropout(HEAD_DROPOUT)
        self.head = nn.Linear(encoder.config.hidden_size, encoder.config.num_labels)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits: Tensor = self.head(self.dropout(mean_pool(states, attention_mask)))
        return logits

    def save(self, out_dir: Path) -> None:
        super().save(out_dir)
        save_file(contiguous_state(self.head.state_dict()), out_dir / HEAD_FILE)


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' warnings and progress bars for one call: an encoder saved without
    its pooler is reported as weights "newly initialized" on every load, after a progress bar."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_classifier(
    model_dir: Path,
    classes: Sequence[str] | None = None,
    seed: int = 0,
    pooling: Pooling = "pooler",
) -> tuple[SequenceClassifier, PreTrainedTokenizerBase]:
    """Load an encoder directory with a classification head for `classes`.

    From a bare encoder, the head is new and initialised under `seed` (so runs repeat); from a
    fine-tuned directory (`classes=None`), the saved head and label names are kept. `pooling`
    picks the head (module docstring); a fine-tuned directory is loaded with the pooling it
    was trained with (its `model.json` says which).
    """
    model_dir = Path(model_dir)
    if pooling not in POOLINGS:
        raise TextdistillError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
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
    head = model_dir / HEAD_FILE
    try:
        if pooling == "pooler":
            classifier = SequenceClassifier(
                AutoModelForSequenceClassification.from_pretrained(
                    model_dir, trust_remote_code=False, use_safetensors=True, **labels
                )
            )
        else:
            with quiet_transformers():
                encoder = AutoModel.from_pretrained(
                    model_dir, trust_remote_code=False, use_safetensors=True, **labels
                )
            classifier = MeanPooledClassifier(encoder)
            if classes is None:  # fine-tuned: its trained head
                if not head.is_file():
                    raise TextdistillError(
                        f"{model_dir} has no {HEAD_FILE}: not a mean-pooled classifier; rerun "
                        "the stage that made it (dvc repro -f <stage>)"
                    )
                classifier.head.load_state_dict(load_file(head))
        tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        # transformers says "not a valid JSON file" or a safetensors header error; which
        # directory, and what fixes it, is ours to say. (OSError: transformers' wording for
        # an unreadable config or missing weights; RuntimeError: a head of the wrong shape.)
        where = model_dir / "model.safetensors" if isinstance(error, SafetensorError) else model_dir
        raise TextdistillError(
            f"{where} is not a valid textdistill model: {str(error).splitlines()[0]}; "
            "rerun the stage that made it (dvc repro -f <stage>)"
        ) from error
    return classifier, tokenizer


def save_classifier(
    classifier: SequenceClassifier, tokenizer: PreTrainedTokenizerBase, out_dir: Path
) -> None:
    """Write weights (safetensors), config and tokenizer as one atomic directory."""
    with atomic_dir(out_dir) as tmp:
        classifier.save(tmp)
        save_tokenizer(tokenizer, tmp)

"""Saving and loading the project's own models (VDCNN teacher, CNN/BiLSTM students).

A model directory holds `model.safetensors` (weights only: nothing executable), `model.json`
(what to build: kind, architecture, its params, class names, max length, the encoder a
teacher reads) and the tokenizer files, so `textdistill predict` can rebuild it from scratch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from textdistill.errors import TextdistillError
from textdistill.io import atomic_dir, read_json, write_json
from textdistill.models.cnn import build_student
from textdistill.models.vdcnn import VDCNN

SPEC = "model.json"
WEIGHTS = "model.safetensors"


def build_model(spec: dict[str, Any]) -> nn.Module:
    """The untrained module a spec describes."""
    num_classes = len(spec["classes"])
    if spec["kind"] == "teacher":
        return VDCNN(num_classes, input_dim=spec["hidden_size"], **spec["params"])
    if spec["kind"] == "student":
        return build_student(spec["arch"], num_classes, **spec["params"])
    raise TextdistillError(f"unknown model kind {spec.get('kind')!r} in {SPEC}")


def save_model(
    model: nn.Module, spec: dict[str, Any], tokenizer: PreTrainedTokenizerBase, out_dir: Path
) -> None:
    with atomic_dir(out_dir) as tmp:
        state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
        save_file(state, tmp / WEIGHTS)
        write_json(tmp / SPEC, spec)
        tokenizer.save_pretrained(tmp)


class EncoderVDCNN(nn.Module):
    """The BERT-VDCNN teacher end to end, for prediction: frozen encoder, then the VDCNN.

    Training never uses this (it reads cached features); `predict` and latency do, so the
    teacher is called like every other model: `model(input_ids, attention_mask)`.
    """

    def __init__(self, encoder: nn.Module, vdcnn: nn.Module, max_length: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.vdcnn = vdcnn
        self.max_length = max_length

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        # The VDCNN was trained on a fixed length: pad to it, as the feature cache did.
        pad = self.max_length - input_ids.shape[1]
        if pad > 0:
            input_ids = F.pad(input_ids, (0, pad))
            attention_mask = F.pad(attention_mask, (0, pad))
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.vdcnn(hidden, attention_mask)


def load_model(model_dir: Path) -> tuple[nn.Module, dict[str, Any], PreTrainedTokenizerBase]:
    """Rebuild any trained model of the pipeline in eval mode, with its spec and tokenizer.

    Every model directory holds `model.json` (kind, classes, max length, the cleaning its
    training data had). A fine-tuned encoder loads through `AutoModelForSequenceClassification`;
    a teacher comes back with its frozen encoder (read from the directory its spec names).
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise TextdistillError(f"no model at {model_dir}")
    if not (model_dir / SPEC).is_file():
        raise TextdistillError(
            f"{model_dir} is not a textdistill model (no {SPEC}); expected a directory under "
            "models/finetune/, models/teacher or models/students/"
        )
    spec = read_json(model_dir / SPEC)
    if spec.get("kind") == "finetune":
        from textdistill.models.classifier import load_classifier

        classifier, tokenizer = load_classifier(model_dir)
        return classifier.eval(), spec, tokenizer
    model = build_model(spec)
    model.load_state_dict(load_file(model_dir / WEIGHTS))
    if spec["kind"] == "teacher":
        encoder_dir = Path(spec["encoder"])
        if not (encoder_dir / "config.json").is_file():
            raise TextdistillError(
                f"teacher {model_dir} needs its encoder at {encoder_dir}, which is missing"
            )
        encoder = AutoModel.from_pretrained(
            encoder_dir, trust_remote_code=False, use_safetensors=True
        )
        model = EncoderVDCNN(encoder, model, spec["max_length"])
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
    return model.eval(), spec, tokenizer

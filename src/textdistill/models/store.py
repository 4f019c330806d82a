"""Saving and loading the project's own models (VDCNN teacher, CNN/BiLSTM students).

A model directory holds `model.safetensors` (weights only: nothing executable), `model.json`
(what to build: kind, architecture, its params, class names, max length, the encoder a
teacher reads) and the tokenizer files, so `textdistill predict` can rebuild it from scratch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers import AutoModel, AutoTokenizer

from textdistill.errors import TextdistillError
from textdistill.io import atomic_dir, read_json, save_tokenizer, write_json
from textdistill.models.cnn import build_student
from textdistill.models.vdcnn import VDCNN

if TYPE_CHECKING:  # importing these costs seconds at start-up (transformers' model machinery)
    from transformers import PreTrainedTokenizerBase


SPEC = "model.json"
WEIGHTS = "model.safetensors"
# What every model.json holds, whatever the kind: what predict and the latency stages read.
REQUIRED_SPEC_KEYS = ("kind", "classes", "max_length")
# Set by the training stage: the temperature that calibrates the probabilities on validation.
CALIBRATION = "calibration_temperature"
# A multitask model (`textdistill.multitask`) lists its tasks, each with its own classes.
MULTITASK = "multitask"
MULTITASK_SPEC_KEYS = ("kind", "tasks", "max_length")


def invalid_model(path: Path, problem: object) -> TextdistillError:
    """A damaged model file (truncated copy, partial download, hand edit): name the file and
    the one fix that always works, since the stage that wrote it can write it again."""
    return TextdistillError(
        f"{path} is not a valid textdistill model file: {problem}; "
        "rerun the stage that made it (dvc repro -f <stage>)"
    )


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
        save_tokenizer(tokenizer, tmp)


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


def read_spec(path: Path) -> dict[str, Any]:
    """model.json, checked for the keys every loader reads (a truncated file fails here)."""
    try:
        spec = read_json(path)
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        raise invalid_model(path, f"not JSON ({error})") from None
    if not isinstance(spec, dict):
        raise invalid_model(path, f"expected a JSON object, got {type(spec).__name__}")
    required = MULTITASK_SPEC_KEYS if spec.get("kind") == MULTITASK else REQUIRED_SPEC_KEYS
    missing = [key for key in required if key not in spec]
    if missing:
        raise invalid_model(path, f"no {', '.join(missing)}")
    return spec


def record_calibration(model_dir: Path, temperature: float) -> None:
    """Add a saved model's calibration temperature to its model.json: predict divides the
    logits by it before the softmax (`textdistill.evaluate.fit_temperature`)."""
    spec = read_spec(model_dir / SPEC)
    write_json(model_dir / SPEC, spec | {CALIBRATION: temperature})


def calibration_temperature(spec: dict[str, Any], path: Path) -> float:
    """The temperature a model's probabilities are computed at: 1.0 for a model saved without
    one; a hand-edited value that is not a positive number is refused."""
    value = spec.get(CALIBRATION, 1.0)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not (is_number and math.isfinite(value) and value > 0):
        raise invalid_model(path, f"{CALIBRATION} is {value!r}, expected a positive number")
    return float(value)


def load_weights(model: nn.Module, path: Path) -> None:
    """Load safetensors weights into `model`; a damaged or mismatched file names itself."""
    if not path.is_file():
        raise invalid_model(path, "the file is missing")
    try:
        state = load_file(path)
    except SafetensorError as error:
        raise invalid_model(path, f"unreadable safetensors ({error})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as error:  # missing, unexpected or mis-shaped tensors
        # torch's first line only says "Error(s) in loading state_dict"; the next says which.
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise invalid_model(path, f"its tensors do not match {SPEC} ({lines[-1][:200]})") from None


def read_model_spec(model_dir: Path) -> dict[str, Any]:
    """The checked `model.json` of a model directory; a missing directory or spec says so."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise TextdistillError(f"no model at {model_dir}")
    if not (model_dir / SPEC).is_file():
        raise TextdistillError(
            f"{model_dir} is not a textdistill model (no {SPEC}); expected a directory under "
            "models/finetune/, models/teacher, models/students/ or models/multitask/"
        )
    return read_spec(model_dir / SPEC)


def load_model(model_dir: Path) -> tuple[nn.Module, dict[str, Any], PreTrainedTokenizerBase]:
    """Rebuild any single-task model of the pipeline in eval mode, with its spec and tokenizer.

    Every model directory holds `model.json` (kind, classes, max length, the cleaning its
    training data had). A fine-tuned encoder loads through `AutoModelForSequenceClassification`;
    a teacher comes back with its frozen encoder (read from the directory its spec names). A
    multitask model is called differently (a task id, token types), so it is refused here:
    `textdistill.multitask.load_multitask` loads it, `textdistill.predict.Predictor` runs it.
    """
    model_dir = Path(model_dir)
    spec = read_model_spec(model_dir)
    if spec["kind"] == MULTITASK:
        raise TextdistillError(
            f"{model_dir} is a multitask model (one encoder, a head per task), which is not "
            "called like a single-task model: load it with textdistill.multitask.load_multitask, "
            f"or run it with `textdistill predict --model {model_dir} --task NAME`"
        )
    if spec.get("kind") == "finetune":
        from textdistill.models.classifier import load_classifier

        classifier, tokenizer = load_classifier(model_dir, pooling=spec.get("pooling", "pooler"))
        return classifier.eval(), spec, tokenizer
    model = build_model(spec)
    load_weights(model, model_dir / WEIGHTS)
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

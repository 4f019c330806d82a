"""The fine-tune heads (`finetune.pooling`): the encoder's own pooler head, and mean pooling."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # never reach for the hub from tests

from pathlib import Path

import pytest
import torch

from textdistill.errors import TextdistillError
from textdistill.io import write_json
from textdistill.models.classifier import (
    HEAD_FILE,
    MeanPooledClassifier,
    SequenceClassifier,
    load_classifier,
    mean_pool,
    save_classifier,
)
from textdistill.models.pretrained import EncoderSpec, materialize_named
from textdistill.models.store import load_model

CLASSES = ["sports", "tech", "world"]
TEXTS = ["the match went to extra time", "a new chip", "talks resume"]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MiniLM cut to its first layer: a real encoder with a trained-for-mean tokenizer."""
    root = tmp_path_factory.mktemp("classifier")
    specs = {
        "bert": EncoderSpec(source="package"),
        "tiny": EncoderSpec(source="derive", base="bert", layers=[0]),
    }
    materialize_named("tiny", specs, root / "tiny")
    return root / "tiny"


def test_mean_pool_averages_only_the_unmasked_tokens_by_hand() -> None:
    states = torch.tensor(
        [[[1.0, 2.0], [3.0, 6.0], [100.0, 100.0]], [[5.0, 5.0], [7.0, 7.0], [9.0, 9.0]]]
    )
    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    pooled = mean_pool(states, mask)
    # Row 0: (1+3)/2, (2+6)/2, the padded 100s ignored; row 1 has no token: 0, not nan.
    torch.testing.assert_close(pooled, torch.tensor([[2.0, 4.0], [0.0, 0.0]]))


def test_a_mean_pooled_head_ignores_padding_and_trains_every_parameter(encoder: Path) -> None:
    classifier, tokenizer = load_classifier(encoder, CLASSES, seed=0, pooling="mean")
    assert isinstance(classifier, MeanPooledClassifier)
    assert getattr(classifier.model, "pooler", None) is None  # no unused layer (DDP)
    assert classifier.head.out_features == len(CLASSES)
    short = tokenizer(TEXTS, padding=True, return_tensors="pt")
    long = tokenizer(TEXTS, padding="max_length", max_length=24, return_tensors="pt")
    classifier.eval()
    with torch.no_grad():
        a = classifier(short["input_ids"], short["attention_mask"])
        b = classifier(long["input_ids"], long["attention_mask"])
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    classifier.train()
    loss = torch.nn.functional.cross_entropy(
        classifier(short["input_ids"], short["attention_mask"]), torch.tensor([0, 1, 2])
    )
    loss.backward()
    frozen = {name for name, p in classifier.named_parameters() if p.grad is None}
    assert frozen == set(), frozen


@pytest.mark.parametrize("pooling", ["pooler", "mean"])
def test_a_fine_tuned_classifier_reloads_with_its_head_and_classes(
    encoder: Path, tmp_path: Path, pooling: str
) -> None:
    classifier, tokenizer = load_classifier(encoder, CLASSES, seed=3, pooling=pooling)  # type: ignore[arg-type]
    with torch.no_grad():  # a head that is not the fresh initialisation
        for parameter in classifier.parameters():
            parameter.add_(0.01)
    save_classifier(classifier, tokenizer, tmp_path / "model")
    write_json(
        tmp_path / "model" / "model.json",
        {"kind": "finetune", "classes": CLASSES, "max_length": 16, "pooling": pooling},
    )
    assert (tmp_path / "model" / HEAD_FILE).is_file() == (pooling == "mean")
    loaded, spec, _ = load_model(tmp_path / "model")
    assert type(loaded) is type(classifier) and spec["pooling"] == pooling
    assert loaded.model.config.id2label == dict(enumerate(CLASSES))
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = classifier.eval()(batch["input_ids"], batch["attention_mask"])
        torch.testing.assert_close(loaded(batch["input_ids"], batch["attention_mask"]), expected)


def test_the_head_is_seeded(encoder: Path) -> None:
    first, _ = load_classifier(encoder, CLASSES, seed=1, pooling="mean")
    again, _ = load_classifier(encoder, CLASSES, seed=1, pooling="mean")
    other, _ = load_classifier(encoder, CLASSES, seed=2, pooling="mean")
    assert isinstance(first, MeanPooledClassifier) and isinstance(other, MeanPooledClassifier)
    assert isinstance(again, MeanPooledClassifier)
    torch.testing.assert_close(first.head.weight, again.head.weight, rtol=0, atol=0)
    assert not torch.equal(first.head.weight, other.head.weight)


def test_a_pooler_model_read_as_mean_pooled_names_the_missing_head(
    encoder: Path, tmp_path: Path
) -> None:
    classifier, tokenizer = load_classifier(encoder, CLASSES, seed=0)
    assert type(classifier) is SequenceClassifier
    save_classifier(classifier, tokenizer, tmp_path / "model")
    with pytest.raises(TextdistillError, match=f"no {HEAD_FILE}.*dvc repro -f"):
        load_classifier(tmp_path / "model", pooling="mean")
    with pytest.raises(TextdistillError, match="pooling must be one of pooler, mean"):
        load_classifier(tmp_path / "model", pooling="cls")  # type: ignore[arg-type]


def test_a_mean_head_of_the_wrong_shape_is_a_clear_error(encoder: Path, tmp_path: Path) -> None:
    classifier, tokenizer = load_classifier(encoder, CLASSES, seed=0, pooling="mean")
    save_classifier(classifier, tokenizer, tmp_path / "model")
    other, _ = load_classifier(encoder, CLASSES[:2], seed=0, pooling="mean")
    assert isinstance(other, MeanPooledClassifier)
    from safetensors.torch import save_file

    save_file(other.head.state_dict(), tmp_path / "model" / HEAD_FILE)
    with pytest.raises(TextdistillError, match="not a valid textdistill model"):
        load_classifier(tmp_path / "model", pooling="mean")


def test_finetune_trains_the_mean_pooled_head_and_the_encoder(encoder: Path) -> None:
    import pandas as pd

    from textdistill.config import TrainConfig
    from textdistill.finetune import finetune
    from textdistill.losses import build_loss

    words = ["goal match team", "chip code data", "talks vote treaty"]
    frame = pd.DataFrame(
        {"text": [f"{words[i % 3]} {i}" for i in range(24)], "label": [i % 3 for i in range(24)]}
    )
    config = TrainConfig(epochs=2, batch_size=8, lr=1e-3, eval_batch_size=16, device="cpu")
    initial, _ = load_classifier(encoder, CLASSES, seed=0, pooling="mean")
    splits = {"train": frame, "val": frame, "test": frame}
    tuned = finetune(encoder, CLASSES, splits, config, build_loss("ce"), 0, pooling="mean")
    assert isinstance(tuned.classifier, MeanPooledClassifier) and isinstance(
        initial, MeanPooledClassifier
    )
    assert not torch.equal(tuned.classifier.head.weight, initial.head.weight)
    before = dict(initial.model.named_parameters())
    query = next(name for name in before if name.endswith("query.weight"))
    after = dict(tuned.classifier.model.named_parameters())
    assert not torch.equal(after[query], before[query])  # the encoder trained too
    accuracy = (tuned.result.test_logits.argmax(1) == frame["label"].to_numpy()).mean()
    assert accuracy > 0.5  # three separable classes: chance is a third

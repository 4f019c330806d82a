"""The engine on a CUDA GPU: `make test-gpu` (pytest -m gpu) on a machine that has one.

`make test` deselects these (CI has no GPU); on a GPU machine they check what the CPU suite
cannot: `auto` picks CUDA and bf16 autocast, bf16 training still learns and predicts like fp32,
resume works on the device, the losses agree with their CPU values, and the feature cache
computed in bf16 on the GPU matches the CPU's fp32 one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import CONFIG, tiny_bert_config, toy_data
from transformers import BertModel

from textdistill.features import encode_hidden_states
from textdistill.losses import LOSSES, build_loss
from textdistill.models.cnn import build_student
from textdistill.train import Trainer, predict_logits

pytestmark = pytest.mark.gpu
AUTO = CONFIG.model_copy(update={"device": "auto", "precision": "auto"})
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def _needs_cuda() -> None:
    assert torch.cuda.is_available(), "the gpu tests need a CUDA device: run them on a GPU machine"


def trainer(config=AUTO, **options) -> Trainer:
    torch.manual_seed(0)
    model = build_student("simpler_cnn", 2, vocab_size=64, embed_dim=16)
    return Trainer(model, build_loss("ce"), config, seed=3, **options)


def test_auto_trains_on_cuda_in_bf16_and_learns() -> None:
    result = trainer().fit(*toy_data())
    assert (result.device, result.precision) == ("cuda", "bf16")
    assert result.test_metrics["accuracy"] > 0.8


def test_bf16_predictions_agree_with_fp32() -> None:
    engine = trainer()
    train, val, test = toy_data()
    engine.fit(train, val, test)
    bf16 = predict_logits(engine.model, test, ("input_ids", "attention_mask"), 16, CUDA, "bf16")
    fp32 = predict_logits(engine.model, test, ("input_ids", "attention_mask"), 16, CUDA, "fp32")
    assert (bf16.argmax(1) == fp32.argmax(1)).mean() >= 0.95
    np.testing.assert_allclose(bf16, fp32, atol=0.1)


def test_resume_on_cuda_ends_like_an_uninterrupted_run(tmp_path: Path) -> None:
    uninterrupted = trainer().fit(*toy_data())

    def crash_after_epoch_2(record) -> None:
        if record.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer(checkpoint_dir=tmp_path, fingerprint="run", on_epoch=crash_after_epoch_2).fit(
            *toy_data()
        )
    resumed = trainer(checkpoint_dir=tmp_path, fingerprint="run").fit(*toy_data())
    assert resumed.resumed_from_epoch == 2 and len(resumed.history) == 3
    # CUDA kernels (embedding backward, atomics) are not bit-reproducible: close, not equal.
    np.testing.assert_allclose(
        [r.val_loss for r in resumed.history],
        [r.val_loss for r in uninterrupted.history],
        atol=0.02,
    )


@pytest.mark.filterwarnings("ignore:DIST with 2 classes")
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_on_cuda_in_bf16_match_cpu(name: str) -> None:
    generator = torch.Generator().manual_seed(0)
    loss = build_loss(name)
    regression = loss.task == "regression"  # one output per example and a float target
    logits = torch.randn(32, 1 if regression else 4, generator=generator)
    teacher = torch.randn(32, 4, generator=generator)
    labels = (
        torch.rand(32, generator=generator)
        if regression
        else torch.randint(0, 4, (32,), generator=generator)
    )
    expected = loss(logits, labels, teacher).item()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        actual = loss(logits.to(CUDA).bfloat16(), labels.to(CUDA), teacher.to(CUDA)).item()
    assert actual == pytest.approx(expected, rel=0.02, abs=1e-3)


def test_bf16_features_on_cuda_match_fp32_on_cpu() -> None:
    torch.manual_seed(0)
    config = tiny_bert_config(30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4)
    encoder = BertModel(config)
    ids = np.random.default_rng(0).integers(1, config.vocab_size, size=(16, 24)).astype(np.int32)
    ids[:, 20:] = 0  # padding
    cpu = encode_hidden_states(encoder, ids, 8, torch.device("cpu"), "fp32").astype(np.float32)
    gpu = encode_hidden_states(encoder, ids, 8, CUDA, "bf16").astype(np.float32)
    cosine = (cpu * gpu).sum(-1) / (np.linalg.norm(cpu, axis=-1) * np.linalg.norm(gpu, axis=-1))
    assert cosine.min() > 0.99


def test_a_compiled_run_on_cuda_in_bf16_learns_and_saves_the_plain_model() -> None:
    engine = trainer(AUTO.model_copy(update={"compile": True}))
    result = engine.fit(*toy_data())
    assert (result.device, result.precision) == ("cuda", "bf16")
    assert result.test_metrics["accuracy"] > 0.8
    assert not hasattr(engine.model, "_orig_mod")

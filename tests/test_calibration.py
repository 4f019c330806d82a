"""Temperature scaling: the fit, the engine's calibrated test metrics and model.json's value."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import CONFIG, toy_data

from textdistill.errors import TextdistillError
from textdistill.evaluate import (
    TEMPERATURE_RANGE,
    classification_metrics,
    cross_entropy,
    expected_calibration_error,
    fit_temperature,
    softmax,
)
from textdistill.losses import build_loss
from textdistill.models.cnn import build_student
from textdistill.models.store import CALIBRATION, calibration_temperature, record_calibration
from textdistill.results import calibration
from textdistill.train import Trainer


def calibrated_sample(n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose softmax is the true label distribution (labels drawn from it)."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(n, 4)) * 2.0
    labels = np.array([rng.choice(4, p=p) for p in softmax(logits)])
    return logits, labels


@pytest.mark.parametrize("scale", [0.2, 1.0, 5.0])
def test_fit_temperature_undoes_a_known_scale(scale: float) -> None:
    logits, labels = calibrated_sample()
    temperature = fit_temperature(logits * scale, labels)
    assert temperature == pytest.approx(scale, rel=0.1)
    # A minimum of the cross-entropy: both neighbours are worse.
    best = cross_entropy(logits * scale / temperature, labels)
    for neighbour in (temperature * 1.05, temperature / 1.05):
        assert cross_entropy(logits * scale / neighbour, labels) > best
    before = expected_calibration_error(softmax(logits * scale), labels)
    after = expected_calibration_error(softmax(logits * scale / temperature), labels)
    assert after <= before + 1e-9 and after < 0.02


def test_fit_temperature_stops_at_its_bound_on_a_split_it_gets_all_right() -> None:
    logits = np.array([[3.0, 0.0], [0.0, 3.0], [2.0, -1.0]])
    assert fit_temperature(logits, np.array([0, 1, 0])) == pytest.approx(TEMPERATURE_RANGE[0])


def test_the_engine_reports_test_metrics_at_the_validation_temperature() -> None:
    torch.manual_seed(0)
    model = build_student("simpler_cnn", 2, vocab_size=64, embed_dim=16)
    train, val, test = toy_data()
    result = Trainer(model, build_loss("ce"), CONFIG, seed=3).fit(train, val, test)
    assert result.temperature is not None and result.temperature > 0
    assert result.temperature != pytest.approx(1.0)  # this toy model is over- or under-confident
    calibrated = classification_metrics(result.test_logits / result.temperature, test.labels, 2)
    raw = classification_metrics(result.test_logits, test.labels, 2)
    assert result.test_metrics == calibrated and result.uncalibrated_metrics == raw
    assert calibrated["accuracy"] == raw["accuracy"]  # one temperature never flips a class
    block = calibration(result)["calibration"]
    assert block["uncalibrated"] == {"loss": round(raw["loss"], 6), "ece": round(raw["ece"], 6)}
    # The temperature is the one that fits validation, not test.
    val_logits = Trainer(model, build_loss("ce"), CONFIG, seed=3).predict(val)
    assert result.temperature == pytest.approx(fit_temperature(val_logits, val.labels))


def test_model_json_keeps_the_temperature_and_refuses_a_bad_one(tmp_path: Path) -> None:
    spec_path = tmp_path / "model.json"
    spec_path.write_text(json.dumps({"kind": "student", "classes": ["a", "b"], "max_length": 8}))
    assert calibration_temperature(json.loads(spec_path.read_text()), spec_path) == 1.0
    record_calibration(tmp_path, 0.25)
    spec = json.loads(spec_path.read_text())
    assert spec[CALIBRATION] == 0.25 and spec["classes"] == ["a", "b"]
    assert calibration_temperature(spec, spec_path) == 0.25
    for bad in (0, -1.0, float("nan"), float("inf"), "0.5", True, None):
        with pytest.raises(TextdistillError, match=f"{spec_path}.*{CALIBRATION}"):
            calibration_temperature(spec | {CALIBRATION: bad}, spec_path)

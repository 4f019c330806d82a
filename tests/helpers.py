"""Helpers shared by test modules, imported as `from helpers import ...`.

Shared code lives here so that test modules depend on one helper module, not on each other
or on conftest.py (which pytest loads itself, and which keeps only fixtures).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import yaml
from transformers import BertConfig

from textdistill.config import TrainConfig
from textdistill.data.batching import Encoded

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
# CI and every developer machine have ../shared beside the clone; a user's clone may not.
needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"no real data beside the repo: {SHARED_DATA}"
)


def benchmark(name: str) -> ModuleType:
    """The script benchmarks/<name>.py as a module (benchmarks/ is no package), loaded once."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


PARAMS_READ = Path(".cache") / "params-read"  # where a traced run writes the keys each stage read


def environment(**extra: str) -> dict[str, str]:
    """The environment `make repro` gives stages: the project's python and dvc first on PATH."""
    env = os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "HF_HUB_OFFLINE": "1",
        # Training runs sample system metrics each second (10 s by default): tiny stages last
        # a few seconds, and the tests check that the samples reach MLflow.
        "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": "1",
    }
    env.pop("MLFLOW_TRACKING_URI", None)  # each clone logs to its own mlflow.db
    return env | extra


def run(
    args: list[str], cwd: Path, check: bool = True, timeout: int = 900, **extra_env: str
) -> subprocess.CompletedProcess:
    """Run a command as a stage would; with `check`, a failure shows its whole output."""
    env = environment(**extra_env)
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def runs_by_stage(repo: Path) -> dict[str, Any]:
    """The clone's MLflow runs (its own mlflow.db), by DVC stage: each stage's newest."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("textdistill")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return {run.data.tags["dvc.stage"]: run for run in reversed(runs)}  # newest last: it wins


def commit(repo: Path, message: str) -> None:
    """Commit everything: queued experiments and `git reset` restores start from a commit."""
    run(["git", "add", "-A"], repo)
    run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
        ],
        repo,
    )


def make_clone(
    root: Path, mlflow_template: Path, edit: Callable[[Path], None] | None = None
) -> Path:
    """The working tree (tracked and unignored files, no outputs) as a fresh git repository."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if (
            (REPO / name).is_file()
            and not name.startswith(("metrics/", "reports/"))
            and name != "dvc.lock"
        ):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    shutil.copyfile(mlflow_template, root / "mlflow.db")  # migrated once: quicker than migrating
    if edit is not None:
        edit(root)
    run(["git", "init", "-q", "-b", "main"], root)
    commit(root, "clone")
    return root


PAIRS_AND_MORE = ("reviews", "paraphrase", "similarity")  # the multitask stage's datasets
TINY = {  # a few hundred rows, one epoch, short texts: every stage runs in seconds
    "download": {
        "amazon": {"sample": {"train_rows": 300, "test_rows": 80}},
        "agnews": {"sample": {"train_rows": 300, "test_rows": 80}},
        **{name: {"sample": {"train_rows": 120, "test_rows": 40}} for name in PAIRS_AND_MORE},
    },
    "prepare": {
        "amazon": {"splits": {"train": 96, "val": 32, "test": 32}},
        "agnews": {"splits": {"train": 128, "val": 32, "test": 32}},
        **{name: {"splits": {"train": 64, "val": 24, "test": 24}} for name in PAIRS_AND_MORE},
    },
    "multitask": {"train": {"epochs": 1, "max_length": 24}, "latency_examples": 3},
    "finetune": {"train": {"epochs": 1, "max_length": 24}, "latency_examples": 3},
    "teacher": {
        "max_length": 24,
        "latency_examples": 3,
        "vdcnn": {"fc_dim": 64},
        "train": {"epochs": 1, "batch_size": 32},
    },
    "students": {"train": {"epochs": 1, "batch_size": 32}, "latency_examples": 3},
    # Every part of the transfer set: labelled rows, an unlabelled file, augmented copies.
    "transfer": {
        "unlabelled": [{"path": "tests/data/unlabelled_news.txt", "format": "lines"}],
        "augment": {"samples_per_example": 1},
    },
}


def merge(base: dict, update: dict) -> dict:
    """`base` with `update` merged in, key by key, as Hydra merges a profile into config."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def shrink(root: Path) -> None:
    """Shrink the quick profile where it is defined (conf/), then regenerate params.yaml.

    Editing params.yaml alone would not do: `dvc exp run` composes params.yaml from conf/
    (Hydra), which would silently restore the full-size quick profile.
    """
    from textdistill.profiles import compose, render

    quick = root / "conf/profile/quick.yaml"
    header = "# @package _global_\n"
    profile = merge(yaml.safe_load(quick.read_text()), TINY)
    quick.write_text(header + yaml.safe_dump(profile, sort_keys=False))
    (root / "params.yaml").write_text(render(compose("quick", conf_dir=root / "conf"), "quick"))


def restore(repo: Path) -> None:
    """Back to the committed pipeline: params, lock file and the git-tracked metrics (which
    `dvc checkout` does not restore: they are `cache: false`), then the cached outputs.
    From HEAD, not the index: `core.autostage` has staged each rerun's dvc.lock."""
    run(["git", "reset", "-q", "--hard", "HEAD"], repo)
    run(["dvc", "checkout", "-f"], repo, check=False)


# The training engine's toy problem (test_train, test_gpu).
CONFIG = TrainConfig(epochs=3, batch_size=8, lr=0.01, eval_batch_size=16, device="cpu")


def toy_split(n: int, seed: int) -> Encoded:
    """Class 1 iff token 7 occurs; lengths 3..12; token 0 is padding, so ids start at 1."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for _ in range(n):
        row = rng.integers(8, 50, size=int(rng.integers(3, 13)))
        label = int(rng.random() < 0.5)
        if label:
            row[rng.integers(0, len(row))] = 7
        rows.append(row.astype(np.int64))
        labels.append(label)
    return Encoded(rows, np.array(labels))


def toy_data() -> tuple[Encoded, Encoded, Encoded]:
    """Train, validation and test splits of the toy problem, the same on every call."""
    return toy_split(192, 0), toy_split(32, 1), toy_split(32, 2)


def tiny_bert_config(vocab_size: int, hidden_size: int = 32, **overrides: Any) -> BertConfig:
    """A BERT small enough to train in a test: 2 heads, a few layers of `hidden_size`."""
    settings: dict[str, Any] = {
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 2 * hidden_size,
        "max_position_embeddings": 64,
    }
    return BertConfig(vocab_size=vocab_size, hidden_size=hidden_size, **(settings | overrides))


def saved_classifier(encoder: Path, classes: list[str], seed: int, out: Path) -> Path:
    """A classifier over `encoder` with a head drawn under `seed`, saved as the finetune stage
    saves one (weights, tokenizer, model.json)."""
    from textdistill.io import write_json
    from textdistill.models.classifier import load_classifier, save_classifier

    save_classifier(*load_classifier(encoder, classes, seed=seed), out)
    write_json(out / "model.json", {"kind": "finetune", "classes": classes, "max_length": 12})
    return out

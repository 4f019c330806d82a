"""Atomic file and directory writes: a crash or a failed stage never leaves a half-written output;
and writes whose bytes do not depend on the environment that made them (`save_tokenizer`).

Each writer builds its output beside the destination (same filesystem, so `os.replace` is an
atomic rename) and only swaps it in once it is complete.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from textdistill.errors import TextdistillError

if TYPE_CHECKING:
    from torch import Tensor
    from transformers import PreTrainedTokenizerBase

# How a tokenizer was loaded (HF_HUB_OFFLINE, a local path), which save_pretrained writes into
# tokenizer_config.json: kept out so that a saved model's bytes, and so its DVC hash, are the
# same under `make repro` (HF_HUB_OFFLINE=1) and a plain `dvc repro`.
TOKENIZER_LOAD_KEYS = ("local_files_only", "is_local")

# mkstemp/mkdtemp create private (0600/0700) entries; outputs get the usual permissions.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary file path; on success it is renamed onto `path`, on error removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(0o666 & ~_UMASK)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary directory that replaces `path` whole once the block succeeds.

    The previous directory, if any, is removed only after the new one is complete. Safe when
    two processes write one target at once (two downloads of one dataset): each succeeds, the
    last to finish wins, and neither leaves a temporary behind (see `_swap_in`).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp.chmod(0o777 & ~_UMASK)
    try:
        yield tmp
        _swap_in(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# Each failed attempt means another writer swapped its target in meanwhile; that it happens
# this often in a row means something else keeps recreating the target.
_SWAP_ATTEMPTS = 100


def _swap_in(new: Path, target: Path) -> None:
    """Rename `new` onto `target`, moving an existing target aside first.

    A directory cannot be renamed onto a non-empty one, so the old target goes into a fresh
    `mkdtemp` directory (a name no other writer uses) and is deleted after the swap. Another
    writer may move the target away or swap its own in between our two renames: both are
    retried, so concurrent writers never fail and the last one to finish wins.
    """
    for _ in range(_SWAP_ATTEMPTS):
        if _try_replace(new, target):
            return
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        old = aside / target.name
        try:
            os.replace(target, old)
        except FileNotFoundError:  # another writer moved it aside first: try again
            aside.rmdir()
            continue
        try:
            if _try_replace(new, target):
                return
        except OSError:
            _restore(old, target)  # never lose the old output to an unexpected failure
            raise
        finally:
            shutil.rmtree(aside, ignore_errors=True)
    raise TextdistillError(
        f"could not replace {target}: another process keeps writing it; stop it and rerun"
    )


def _try_replace(new: Path, target: Path) -> bool:
    """Rename `new` onto `target`; False (nothing done) when a non-empty target is in the way."""
    try:
        os.replace(new, target)
    except OSError as error:
        if error.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            return False
        raise
    return True


def _restore(old: Path, target: Path) -> None:
    if not target.exists():
        os.replace(old, target)


def project_root() -> Path:
    """The repository a stage belongs to: `$DVC_ROOT` inside a DVC stage (the parent repository,
    also for `--temp` and queued experiments), else the git top level, else the working dir."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"])
    top = git("rev-parse", "--show-toplevel")
    return Path(top) if top else Path.cwd()


def git(*args: str) -> str:
    """`git <args>`'s output, or "" when git is missing, fails or hangs (not a repository)."""
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def resolve_in_project(name: str | os.PathLike[str]) -> Path:
    """A user-given path: absolute as it is, relative against `project_root()`, so the same
    params find the same files from the workspace, a `--temp` run or a queued experiment."""
    path = Path(name).expanduser()
    return path if path.is_absolute() else project_root() / path


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON atomically, with sorted keys so diffs and DVC hashes are stable."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_yaml(text: str) -> Any:
    """YAML as DVC reads it: YAML 1.2 (ruamel), where `lr: 5e-05` is a float and `on` a
    string. PyYAML's YAML 1.1 reads those as the string '5e-05' and True: a stage would see
    other values than the ones `dvc params diff` and `dvc exp show` report. Raises
    `ruamel.yaml.YAMLError` on malformed text."""
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- all-or-nothing stage outputs -----------------------------------------------------------

STAGING = Path(".cache") / "staging"  # locks and swap journals, per stage (git-ignored)
_STAGED = ".staged-"  # `.<name>.staged-<random>`: a sibling being written, never an output


@contextmanager
def stage_outputs(stage: str, targets: Mapping[str, Path]) -> Iterator[dict[str, Path]]:
    """Write all of a stage's outputs, or none of them.

    Yields one fresh temporary path per target (a sibling of it, so renames are atomic; not
    created: write a file there, or a directory). Only when the block succeeds are they
    swapped in, together, at the very end; a failure or a kill before that leaves every old
    output as it was. The swap itself is journaled: a kill in the middle of it is rolled
    forward by the next run of the stage, which also removes the temporaries a killed run
    left. Two concurrent runs of one stage are refused (an OS lock, freed when its holder
    dies, even by SIGKILL).
    """
    STAGING.mkdir(parents=True, exist_ok=True)
    name = stage.replace("@", "-").replace("/", "_")
    lock = FileLock(str(STAGING / f"{name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise TextdistillError(
            f"another run of stage {stage} is writing its outputs (lock {lock.lock_file}); "
            "wait for it to finish"
        ) from None
    journal = STAGING / f"{name}.journal.json"
    try:
        _roll_forward(journal)
        for target in targets.values():
            _remove_stale(Path(target))
        temps = {key: _staged_sibling(Path(target)) for key, target in targets.items()}
        try:
            yield temps
            pairs = [(str(temps[key]), str(target)) for key, target in targets.items()]
            missing = [temp for temp, _ in pairs if not Path(temp).exists()]
            if missing:
                raise RuntimeError(f"stage {stage} did not write its outputs {missing}")
            write_json(journal, pairs)  # from here on, the swap completes even after a kill
            _roll_forward(journal)
        finally:
            for temp in temps.values():
                _remove(temp)
    finally:
        lock.release()


def _staged_sibling(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}{_STAGED}", dir=target.parent)
    os.close(fd)
    os.unlink(name)  # only the unique name is wanted: the stage creates a file or a directory
    return Path(name)


def _roll_forward(journal: Path) -> None:
    """Finish a journaled swap: every staged output replaces its target, then the old go."""
    if not journal.is_file():
        return
    pairs = [(Path(temp), Path(target)) for temp, target in read_json(journal)]
    for temp, target in pairs:
        old = target.with_name(f".{target.name}.old")
        if temp.exists():
            if target.exists() and not old.exists():
                os.replace(target, old)
            _remove(target)  # a target swapped in by a killed run, not yet renamed to old
            os.replace(temp, target)
    for _, target in pairs:
        _remove(target.with_name(f".{target.name}.old"))
    journal.unlink()


def _remove_stale(target: Path) -> None:
    """Temporaries of `target` left by a killed run (this stage's lock is held: none is live)."""
    if target.parent.is_dir():
        # The staged siblings, and the atomic writers' temporaries of those (`..<name>.staged-*`:
        # a kill inside `atomic_dir(staged)` leaves one beside it).
        for pattern in (f".{target.name}{_STAGED}*", f"..{target.name}{_STAGED}*"):
            for stale in target.parent.glob(pattern):
                _remove(stale)
        _remove(target.with_name(f".{target.name}.old"))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def contiguous_state(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """A state dict safetensors can write."""
    # safetensors refuses shared or non-contiguous tensors (e.g. tied embeddings).
    return {name: tensor.detach().contiguous().clone() for name, tensor in state.items()}


def save_tokenizer(tokenizer: PreTrainedTokenizerBase, out_dir: Path) -> None:
    """`tokenizer.save_pretrained(out_dir)` without the `TOKENIZER_LOAD_KEYS`, which describe
    the environment it was loaded in, not the tokenizer; the tokenizer itself is unchanged."""
    init_kwargs = tokenizer.init_kwargs
    load_facts = {key: init_kwargs.pop(key) for key in TOKENIZER_LOAD_KEYS if key in init_kwargs}
    try:
        tokenizer.save_pretrained(out_dir)
    finally:
        init_kwargs.update(load_facts)

"""MLflow tracking: one run per stage execution, in one database under the repository root.

- URI: `$MLFLOW_TRACKING_URI`, else `sqlite:///<root>/mlflow.db` where root is `$DVC_ROOT`
  (set by DVC, and pointing at the main repository for `--temp` and queued experiments, so
  their runs are not lost with the temporary copy) or the git top level.
- The sqlite database is created (schema migrations) once, under a file lock, before any
  stage logs to it: two queued experiments creating it at once would corrupt it.
- Run name `<DVC_EXP_NAME or workspace>/<DVC_STAGE>`; tags `dvc.stage`, `dvc.exp_name`,
  `dvc.baseline_rev`, `git.commit`, `git.dirty`; params flattened to dotted keys.
- The server is checked before a stage starts its work, so an unreachable tracking server
  fails in seconds, not after an hour of training.
- Metric and param keys hold user-derived names (a dataset's classes: `pos!`, `C++`); each is
  made one MLflow accepts by `mlflow_key`, which leaves an already valid key as it is.

mlflow is imported lazily: it costs over a second, and most of the package never needs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from textdistill.errors import TextdistillError
from textdistill.io import git, project_root

if TYPE_CHECKING:
    from mlflow import MlflowClient

EXPERIMENT = "textdistill"
DATABASE = "mlflow.db"
# Fail fast against an unreachable server instead of mlflow's minutes of retries.
_HTTP_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
# What mlflow.utils.validation accepts in a metric or param name (off Windows), and how long.
_KEY_CHARACTER = re.compile(r"[/\w.\- :]")
MAX_KEY_LENGTH = 250


class TrackingError(TextdistillError):
    """The tracking server or database cannot be used."""


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / DATABASE}"


def flatten(
    params: Mapping[str, Any], prefix: str = "", keep_empty: bool = False
) -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists are kept whole as one param. An empty mapping has
    no keys to give; with `keep_empty` it is kept as a value (`{'c': {}}` -> {'c': {}}), so a
    section that exists but is empty still differs from one that does not."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and (value or not keep_empty):
            flat |= flatten(value, f"{name}.", keep_empty)
        else:
            flat[name] = value
    return flat


def mlflow_key(name: str) -> str:
    """`name` as a metric or param key that MLflow accepts; a key it accepts comes back as is.

    MLflow takes letters, digits, `_`, `-`, `.`, spaces, `:` and `/` in a key of at most 250
    characters that a path normalisation leaves alone. Any other character becomes `_<hex>_`,
    its code point in lower-case hex: `class_balance.train.pos!` -> `class_balance.train.pos_21_`,
    `C++` -> `C_2b__2b_`, `pos 👍` -> `pos _1f44d_`. Only where the key, read as a path, would
    normalise to another (`a//b`, `x/`, `..`) is every `/` escaped too (`_2f_`), then a leading
    `.` (`_2e_`). A key over 250 characters keeps its first 241 and ends with `_` and 8 hex
    digits of the name's sha256. Distinct names give distinct keys unless a name already holds
    such an escape literally (`pos_21_` beside `pos!`); `StageRun` tells those apart too.
    """
    if _valid_key(name):
        return name
    key = "".join(c if _KEY_CHARACTER.fullmatch(c) else f"_{ord(c):x}_" for c in name)
    if _not_a_unique_path(key):
        key = key.replace("/", "_2f_") or "_"
        if _not_a_unique_path(key):  # `.`, `..` or `..x`
            key = f"_2e_{key[1:]}"
    if len(key) > MAX_KEY_LENGTH:
        key = f"{key[: MAX_KEY_LENGTH - 9]}_{_digest(name)}"
    return key


def _valid_key(name: str) -> bool:
    return (
        len(name) <= MAX_KEY_LENGTH
        and all(_KEY_CHARACTER.fullmatch(c) for c in name)
        and not _not_a_unique_path(name)
    )


def _not_a_unique_path(name: str) -> bool:
    """mlflow's `path_not_unique`: the key, read as a path, must not normalise to another."""
    norm = posixpath.normpath(name)
    return norm != name or norm == "." or norm.startswith(("..", "/"))


def _digest(name: str) -> str:
    """8 hex digits of the name's sha256 (a lone surrogate, from undecodable bytes, too)."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _mlflow_keys(names: Iterable[str]) -> dict[str, str]:
    """Each name's `mlflow_key`; an escaped key that another name also gets (only when a name
    holds an escape literally) ends with `_` and 8 hex digits of its name's sha256 instead."""
    keys = {name: mlflow_key(name) for name in names}
    taken = Counter(keys.values())
    for name, key in keys.items():
        if key != name and taken[key] > 1:
            keys[name] = f"{key[: MAX_KEY_LENGTH - 9]}_{_digest(name)}"
    return keys


def run_name(stage: str) -> str:
    return f"{os.environ.get('DVC_EXP_NAME') or 'workspace'}/{os.environ.get('DVC_STAGE') or stage}"


def run_tags(stage: str) -> dict[str, str]:
    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {
        "dvc.stage": os.environ.get("DVC_STAGE") or stage,
        "dvc.exp_name": os.environ.get("DVC_EXP_NAME") or "workspace",
        "dvc.baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV") or (commit or "unknown"),
        "git.commit": commit or "unknown",
        "git.dirty": str(bool(dirty)).lower(),
    }


def connect(uri: str | None = None) -> tuple[MlflowClient, str]:
    """Open the tracking store, creating the sqlite database once; return client, experiment id."""
    uri = uri or tracking_uri()
    for key, value in _HTTP_ENV.items():
        os.environ.setdefault(key, value)
    from mlflow import MlflowClient

    lock = FileLock(_lock_path(uri)) if uri.startswith("sqlite:///") else None
    try:
        if lock is None:
            return _experiment(MlflowClient(uri), None)
        with lock:
            # Artifacts beside the database, not in the working directory: a queued
            # experiment's temporary copy would take them away with it.
            artifacts = Path(uri.removeprefix("sqlite:///")).parent / "mlruns"
            return _experiment(MlflowClient(uri), artifacts.as_uri())
    except Exception as error:  # mlflow raises many types; every one means "cannot track"
        raise TrackingError(
            f"MLflow tracking at {uri} is not usable: {type(error).__name__}: {_first_line(error)}. "
            "Start the server, fix MLFLOW_TRACKING_URI, or unset it to use the local mlflow.db."
        ) from error


def _experiment(client: MlflowClient, artifacts: str | None) -> tuple[MlflowClient, str]:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return client, experiment.experiment_id
    return client, client.create_experiment(EXPERIMENT, artifact_location=artifacts)


def _lock_path(uri: str) -> str:
    path = Path(uri.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"{path}.lock"


class StageRun:
    """A thin handle on one MLflow run: metrics (with steps), params, files and text."""

    def __init__(self, client: MlflowClient, run_id: str, uri: str) -> None:
        self.client = client
        self.run_id = run_id
        self.uri = uri

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        flat = flatten(params)
        keys = _mlflow_keys(flat)
        items = [Param(keys[key], str(value)[:6000]) for key, value in sorted(flat.items())]
        for start in range(0, len(items), 100):  # the REST API takes at most 100 params a call
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log the numbers among `metrics` (flattened to dotted keys, made valid by
        `mlflow_key`: a class `pos!` is logged as `..._21_`); other values are left out."""
        from mlflow.entities import Metric

        stamp = _now_ms()
        numbers = {
            key: value
            for key, value in flatten(metrics).items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        keys = _mlflow_keys(numbers)
        items = [
            Metric(keys[key], float(value), stamp, step or 0) for key, value in numbers.items()
        ]
        for start in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[start : start + 1000])

    def log_artifact(
        self, path: str | Path, folder: str | None = None, name: str | None = None
    ) -> None:
        """Log a file, or a directory's files, under `folder`; a file as `name` when given (a
        staged output, logged before the swap under the name it is published as)."""
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), folder)
        elif path.is_file() and name not in (None, path.name):
            with tempfile.TemporaryDirectory() as tmp:
                copy = Path(tmp) / str(name)
                shutil.copyfile(path, copy)
                self.client.log_artifact(self.run_id, str(copy), folder)
        elif path.is_file():
            self.client.log_artifact(self.run_id, str(path), folder)

    def log_dataset(
        self, name: str, digest: str, source: str, context: str, rows: int | None = None
    ) -> None:
        """Log a dataset as an MLflow run input (the UI's Dataset column): what it trained on."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        profile = json.dumps({"num_rows": rows}) if rows is not None else None
        dataset = Dataset(name, digest, "local", source, profile=profile)
        tag = InputTag("mlflow.data.context", context)
        self.client.log_inputs(self.run_id, datasets=[DatasetInput(dataset, [tag])])

    def log_text(self, text: str, name: str) -> None:
        self.client.log_text(self.run_id, text, name)

    def set_tag(self, key: str, value: str) -> None:
        self.client.set_tag(self.run_id, key, value)

    def log_model(self, model_dir: Path) -> None:
        """Log a trained model directory as a pyfunc model that `mlflow.pyfunc` can reload."""
        from textdistill.mlflow_model import log_pyfunc

        log_pyfunc(self.uri, self.run_id, model_dir)


@contextmanager
def stage_run(
    stage: str, params: Mapping[str, Any] | None = None, system_metrics: bool = False
) -> Iterator[StageRun]:
    """Open a run for this stage execution; it ends FINISHED, or FAILED if the stage raises.

    With `system_metrics`, MLflow's monitor samples CPU, memory, disk and network (and each
    GPU's utilisation and memory, through nvidia-ml-py, when there is one) in a background
    thread every `$MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL` seconds (10 by default) into the
    run's `system/...` metrics: the System metrics tab of the MLflow UI.
    """
    uri = tracking_uri()
    client, experiment_id = connect(uri)
    run = client.create_run(experiment_id, run_name=run_name(stage), tags=run_tags(stage))
    handle = StageRun(client, run.info.run_id, uri)
    if params:
        handle.log_params(params)
    monitor = _system_monitor(run.info.run_id, uri) if system_metrics else None
    try:
        yield handle
    except BaseException:
        client.set_terminated(run.info.run_id, status="FAILED")
        raise
    finally:
        if monitor is not None:
            _finish_monitor(monitor)
    client.set_terminated(run.info.run_id, status="FINISHED")


def _system_monitor(run_id: str, uri: str) -> Any:
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(run_id, tracking_uri=uri)
    monitor.start()
    return monitor


def _finish_monitor(monitor: Any) -> None:
    """Stop the sampling thread, then log one last sample: the thread only logs after a full
    interval, so a stage shorter than one would otherwise have no system metrics at all."""
    monitor.finish()
    monitor.collect_metrics()
    monitor.publish_metrics(monitor.aggregate_metrics())
    monitor.mlflow_logger.flush()


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""

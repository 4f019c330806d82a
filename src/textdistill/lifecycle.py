"""What every training stage does around its training loop, in one place.

A training stage (`finetune@<model>`, `teacher`, `student@<arch>-<kd>`) describes its model
with a small `TrainingJob` (how to fit it, save it and run it for latency, what its card
says); `run_training_stage` owns the rest: the resumable checkpoint directory and its
fingerprint, the MLflow run, CPU latency and size, the metrics JSON, curves and confusion
matrix, the model card, and an all-or-nothing swap of every output at the very end.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click
import numpy as np
from torch import nn

from textdistill import distributed
from textdistill.config import Params, TrainConfig, load_params
from textdistill.data.split import SPLITS
from textdistill.devices import claimed_gpu, claimed_gpus, cuda_ids
from textdistill.errors import report_errors
from textdistill.evaluate import directory_size_mb, text_latency
from textdistill.io import sha256, stage_outputs, write_json, write_text
from textdistill.models.store import record_calibration
from textdistill.results import (
    CONFUSION,
    CURVES,
    checkpoint_dir,
    epoch_logger,
    fingerprint,
    model_card,
    training_metrics,
    write_confusion,
    write_curves,
)
from textdistill.tracking import StageRun, stage_run
from textdistill.train import EpochRecord, FitResult

if TYPE_CHECKING:  # importing these costs seconds at start-up (transformers' model machinery)
    from transformers import PreTrainedTokenizerBase


@dataclass
class Fitted:
    """A trained model and what its stage reports about it."""

    model: nn.Module
    result: FitResult
    test_labels: np.ndarray
    classes: list[str]
    tokenizer: PreTrainedTokenizerBase  # what turns a user's text into the model's input ids


@dataclass(frozen=True)
class Runnable:
    """A saved model as a user runs it on raw text (for CPU latency and size)."""

    model: nn.Module  # called as model(input_ids, attention_mask)
    tokenizer: PreTrainedTokenizerBase
    max_length: int
    size_mb: float  # the weights a user ships


class TrainingJob(Protocol):
    """One model kind's part of a training stage; `run_training_stage` does the rest."""

    # Read-only properties, so a job may provide each as a field or as a computed property.
    @property
    def stage(self) -> str:
        """The DVC stage name, e.g. "finetune@bert": names the MLflow run and checkpoints."""

    @property
    def title(self) -> str:
        """The model card's title."""

    @property
    def params(self) -> dict[str, Any]:
        """Logged to MLflow; with `inputs`, decides whether a checkpoint resumes."""

    @property
    def inputs(self) -> Sequence[Path]:
        """Files and directories the model is trained from."""

    @property
    def log_model(self) -> bool:
        """Log the model directory as an MLflow pyfunc model."""

    @property
    def data(self) -> DataRef | tuple[DataRef, ...]:
        """The dataset(s) it trains on (logged as the MLflow run's inputs)."""

    @property
    def device(self) -> str:
        """`train.device` (auto, cpu, cuda): whether the stage claims a GPU."""

    def fit(
        self, *, checkpoint_dir: Path, fingerprint: str, on_epoch: Callable[[EpochRecord], None]
    ) -> Fitted:
        """Train, resuming from `checkpoint_dir` when its fingerprint matches (keywords only)."""

    def save(self, fitted: Fitted, model_dir: Path) -> None:
        """Write the model directory."""

    def runnable(self, fitted: Fitted, model_dir: Path) -> Runnable: ...

    def latency_texts(self) -> list[str]: ...

    def facts(self, fitted: Fitted, scores: Mapping[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DataRef:
    """The prepared dataset a model trains on, for the MLflow run's Dataset column."""

    name: str
    prepared: Path  # data/prepared/<name>/ (train/val/test parquet)
    origin: str  # where its raw files came from (download params)
    smoke: bool  # the embedded sample data: a card says its scores are smoke figures
    clean: dict[str, Any]  # the cleaning its texts had, which `predict` repeats

    @classmethod
    def from_params(cls, params: Params, dataset: str, prepared: Path) -> DataRef:
        config = params.download_config(dataset)
        if config.source == "files" and config.files is not None:
            origin = " + ".join(p for p in (config.files.train, config.files.test) if p)
        elif config.source == "hub" and config.hub is not None:
            origin = f"{config.hub.path}@{config.hub.revision}"
        else:
            origin = "textdistill sample generator (smoke data)"
        clean = params.prepare_config(dataset).clean.model_dump()
        return cls(
            dataset, prepared, f"{config.source}: {origin}", config.source == "sample", clean
        )

    def log(self, run: StageRun) -> None:
        """One MLflow input per split: its parquet's digest, rows and the raw origin."""
        import pyarrow.parquet as pq

        for split in SPLITS:
            path = self.prepared / f"{split}.parquet"
            rows = pq.read_metadata(path).num_rows
            source = f"{path} ({self.origin})"
            run.log_dataset(f"{self.name}/{split}", sha256(path)[:16], source, split, rows)


@dataclass(frozen=True)
class Outputs:
    """Where a training stage writes: the paths dvc.yaml gives it."""

    model: Path  # models/<...>/<name>/
    metrics: Path  # metrics/<...>/<name>.json
    plots: Path  # metrics/<...>/<name>/ (curves.csv, confusion.csv)


@dataclass(frozen=True)
class StageResult:
    scores: dict[str, Any]
    best_epoch: int

    def summary(self, stage: str) -> str:
        """The test accuracy (a multitask model: the tasks' mean score) and the best epoch."""
        test = self.scores["test"]
        name = "accuracy" if "accuracy" in test else "score"
        return f"{stage}: test {name} {test[name]:.4f} (best epoch {self.best_epoch})"


PATH = click.Path(path_type=Path)


def training_stage(
    where: str,
) -> Callable[[Callable[..., TrainingJob]], Callable[..., None]]:
    """Make a stage's command from a function that builds its job from params and options.

    Adds the options every training stage takes, `--out` (models/<where>), `--metrics`
    (metrics/<where>.json), `--plots` (metrics/<where>/) and `--params`, then runs the job
    with `run_training_stage`; user errors exit 2 with one line (`report_errors`). The
    function's own arguments and options are declared on it with click, as usual.
    """

    def decorate(build: Callable[..., TrainingJob]) -> Callable[..., None]:
        @click.option("--out", type=PATH, required=True, help=f"models/{where}")
        @click.option("--metrics", type=PATH, required=True, help=f"metrics/{where}.json")
        @click.option("--plots", type=PATH, required=True, help=f"metrics/{where}/")
        @click.option("--params", "params_file", default="params.yaml", show_default=True)
        @report_errors
        @functools.wraps(build)
        def stage(out: Path, metrics: Path, plots: Path, params_file: str, **options: Any) -> None:
            job = build(load_params(params_file), **options)
            run_training_stage(job, Outputs(model=out, metrics=metrics, plots=plots))

        return stage

    return decorate


def run_training_stage(job: TrainingJob, outputs: Outputs) -> StageResult | None:
    """Fit, measure, write and log one model, and print its summary line; every output appears
    together, or none does.

    With `TEXTDISTILL_PROCESSES=N` the stage's command is run again as N workers (claiming N
    GPUs for them when there are GPUs) and this process only waits: None. Of the workers,
    every one trains; the main one alone writes, logs and returns the result.
    """
    processes = distributed.requested_processes()
    if processes > 1 and not distributed.launched():
        with claimed_gpus(job.device, processes) as gpus:
            distributed.run_launched(processes, cuda_ids(gpus))
        return None
    if distributed.launched():  # a worker: its GPU is cuda:<local rank>, claimed by the launcher
        claimed = os.environ.get(distributed.CLAIMED_ENV)
        return _run_stage(job, outputs, claimed)
    with claimed_gpu(job.device) as gpu:
        return _run_stage(job, outputs, gpu.describe() if gpu else None)


def _run_stage(job: TrainingJob, outputs: Outputs, gpus: str | None) -> StageResult | None:
    checkpoints = checkpoint_dir(job.stage)
    resume_key = fingerprint(job.params, job.inputs)
    if not distributed.is_main_process():  # trains its shards; the main process does the rest
        job.fit(checkpoint_dir=checkpoints, fingerprint=resume_key, on_epoch=_ignore)
        return None
    targets = {"model": outputs.model, "metrics": outputs.metrics, "plots": outputs.plots}
    with stage_run(job.stage, job.params, True) as run:
        if gpus is not None:  # which GPUs of the machine, for runs queued side by side
            run.set_tag("gpu.claimed", gpus)
        for dataset in datasets(job):
            dataset.log(run)
        with stage_outputs(job.stage, targets) as staged:
            fitted, scores = _fit_and_write(job, run, checkpoints, resume_key, staged)
        artifacts = _artifacts(outputs, bool(fitted.classes))
        _log_outputs(run, scores, artifacts, outputs.model if job.log_model else None)
    shutil.rmtree(checkpoints, ignore_errors=True)  # the stage is complete: nothing to resume
    result = StageResult(scores, fitted.result.best_epoch)
    print(result.summary(job.stage))
    return result


def _fit_and_write(
    job: TrainingJob,
    run: StageRun,
    checkpoints: Path,
    resume_key: str,
    staged: Mapping[str, Path],
) -> tuple[Fitted, dict[str, Any]]:
    """Everything the stage writes, into the staged (not yet published) paths."""
    fitted = job.fit(checkpoint_dir=checkpoints, fingerprint=resume_key, on_epoch=epoch_logger(run))
    job.save(fitted, staged["model"])
    if fitted.result.temperature is not None:
        record_calibration(staged["model"], fitted.result.temperature)
    runnable = job.runnable(fitted, staged["model"])
    latency = text_latency(
        runnable.model, runnable.tokenizer, job.latency_texts(), runnable.max_length
    )
    # Parameters and size of what a user runs (a teacher runs its encoder too).
    scores = training_metrics(fitted.result, runnable.model, runnable.size_mb, latency)
    smoke = any(dataset.smoke for dataset in datasets(job))
    card = model_card(job.title, job.facts(fitted, scores), scores, smoke)
    write_text(staged["model"] / "README.md", card)
    write_curves(fitted.result.history, staged["plots"] / CURVES)
    if fitted.classes:  # see _artifacts
        write_confusion(
            fitted.result, fitted.test_labels, fitted.classes, staged["plots"] / CONFUSION
        )
    write_json(staged["metrics"], scores)
    return fitted, scores


def _artifacts(outputs: Outputs, has_confusion: bool) -> list[Path]:
    """The published files MLflow keeps. A regression or multitask model has no one confusion
    matrix, so `_fit_and_write` writes it for a single classification only."""
    files = [outputs.metrics, outputs.plots / CURVES, outputs.model / "README.md"]
    return [*files, outputs.plots / CONFUSION] if has_confusion else files


def _log_outputs(
    run: StageRun, scores: Mapping[str, Any], artifacts: Sequence[Path], model: Path | None
) -> None:
    """MLflow gets the final metrics and the files as published (the run is still open)."""
    run.log_metrics(scores)
    for path in artifacts:
        run.log_artifact(path)
    if model is not None:
        run.log_model(model)


def datasets(job: TrainingJob) -> tuple[DataRef, ...]:
    """The job's datasets: one, or one per task of a multitask model."""
    return job.data if isinstance(job.data, tuple) else (job.data,)


def describe_training(config: TrainConfig) -> str:
    """The model card's one-line training recipe."""
    return (
        f"{config.optimizer} lr {config.lr}, {config.epochs} epochs, batch {config.batch_size}, "
        f"{config.schedule} schedule"
    )


def model_size_mb(*dirs: Path) -> float:
    """Weights a user ships to run the model (a teacher ships its encoder too)."""
    return round(sum(directory_size_mb(d) for d in dirs), 3)


def _ignore(record: EpochRecord) -> None:
    """Workers other than the main one log no curves."""

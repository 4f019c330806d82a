"""One training loop for every model: fine-tuned encoders, the VDCNN teacher and CNN students.

- on `accelerate.Accelerator`: device `auto` (CUDA if present), precision `auto` (bf16 on CUDA;
  fp32 on CPU unless asked: see `resolve_precision`), and DDP across processes when the stage
  is launched with several (`textdistill.distributed`): each global batch is split across them,
  validation and test are predicted in shards and gathered, only the main process writes
  checkpoints;
- Adam or AdamW, gradient clipping, optional warmup and linear decay, length-bucketed batches
  with dynamic padding;
- validation every epoch; the best epoch is chosen on validation accuracy (ties: lower
  validation loss), never on test; test is evaluated once, with the best weights;
- a checkpoint after every epoch, and resume from it: batch order and dropout are seeded by
  (seed, epoch) alone, so a resumed run ends exactly where an uninterrupted one does.

A model is any `nn.Module` returning logits; `inputs` names the batch fields passed to it
positionally (e.g. `("input_ids", "attention_mask")`). Cached teacher logits travel in the
batch as `teacher_logits`, so distillation never runs the teacher.
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from tqdm.auto import tqdm

from textdistill import distributed
from textdistill.config import TrainConfig
from textdistill.data.batching import Encoded, eval_batches, iterate, train_batches
from textdistill.evaluate import classification_metrics, fit_temperature, regression_metrics
from textdistill.io import atomic_path, contiguous_state
from textdistill.losses import Loss

log = logging.getLogger(__name__)

CHECKPOINT = "last.pt"
BEST_WEIGHTS = "best.safetensors"


@dataclass(frozen=True)
class Objective:
    """How one split's predictions are scored, for a task (classification, regression, several).

    `evaluate(outputs, data)` gives every metric, "loss" among them; `score` names the one that
    picks the best epoch (higher is better; ties go to the lower loss); `curves`, the ones
    recorded every epoch besides the loss.
    """

    evaluate: Callable[[np.ndarray, Encoded], dict[str, float]]
    score: str
    curves: tuple[str, ...]
    # The temperature that calibrates the best epoch's outputs on validation; None: outputs
    # that are not logits of one softmax (a regression, several tasks' heads).
    calibrate: Callable[[np.ndarray, Encoded], float] | None = None


CLASSIFICATION = Objective(
    lambda logits, data: classification_metrics(logits, data.labels, logits.shape[1]),
    score="accuracy",
    curves=("accuracy", "macro_f1"),
    calibrate=lambda logits, data: fit_temperature(logits, data.labels),
)
REGRESSION = Objective(
    lambda outputs, data: regression_metrics(outputs[:, 0], data.labels),
    score="pearson",
    curves=("pearson", "spearman", "mae"),
)
OBJECTIVES = {"classification": CLASSIFICATION, "regression": REGRESSION}


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    val_score: float  # the objective's score: what selects the best epoch
    val_metrics: dict[str, float]  # the objective's curves
    seconds: float

    def row(self) -> dict[str, float]:
        """Flat, for curves.csv and MLflow: epoch, train_loss, val_loss, val_<curve>..., seconds."""
        curves = {f"val_{name}": value for name, value in self.val_metrics.items()}
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            **curves,
            "seconds": self.seconds,
        }


@dataclass
class FitResult:
    best_epoch: int
    history: list[EpochRecord]
    test_logits: np.ndarray  # the model's raw outputs
    test_metrics: dict[str, float]  # of the outputs divided by `temperature`, as predict gives
    train_seconds: float
    train_samples: int
    train_tokens: int
    resumed_from_epoch: int = 0
    device: str = "cpu"
    precision: str = "fp32"
    processes: int = 1  # DDP processes that shared each global batch
    temperature: float | None = None  # calibration on validation (Objective.calibrate)
    uncalibrated_metrics: dict[str, float] | None = None  # test metrics of the raw outputs
    extra: dict = field(default_factory=dict)

    @property
    def samples_per_s(self) -> float:
        return self.train_samples / max(self.train_seconds, 1e-9)

    @property
    def tokens_per_s(self) -> float:
        return self.train_tokens / max(self.train_seconds, 1e-9)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is visible")
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> str:
    """`auto`: bf16 on CUDA GPUs that support it; fp32 on CPU.

    bf16 autocast on a CPU without native bf16 (AMX / AVX512-BF16) is emulated and slower;
    `benchmarks/finetune_bench.py` measures both, and `precision: bf16` opts in.
    """
    if name != "auto":
        return name
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam or AdamW, fused: one kernel for all parameters (on 2 CPU cores the step of a
    15M-parameter encoder drops from ~130 ms to ~13 ms; the math is the same)."""
    params = [p for p in model.parameters() if p.requires_grad]
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)


def build_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    """Linear warmup over `warmup_ratio` of the steps, then constant or linear decay to zero."""
    warmup = int(total_steps * config.warmup_ratio)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if config.schedule == "linear":
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


Prediction = list[tuple[np.ndarray, np.ndarray]]  # (example indices, their logits) per batch


@torch.inference_mode()
def predict_batches(
    model: nn.Module,
    data: Encoded,
    batches: Sequence[np.ndarray],
    inputs: Sequence[str],
    device: torch.device,
    precision: str = "fp32",
    pad_id: int = 0,
) -> Prediction:
    """Logits of the given batches of examples, each with its indices."""
    model.eval()
    outputs: Prediction = []
    for indices, batch in zip(batches, iterate(data, batches, pad_id), strict=True):
        with autocast(device, precision):
            logits = model(*(batch[name].to(device) for name in inputs))
        outputs.append((indices, logits.float().cpu().numpy()))
    return outputs


def in_example_order(prediction: Prediction) -> np.ndarray:
    """One array of logits, row i for example i (batches come length-sorted)."""
    logits = np.concatenate([batch_logits for _, batch_logits in prediction])
    ordered = np.empty_like(logits)
    ordered[np.concatenate([indices for indices, _ in prediction])] = logits
    return ordered


def predict_logits(
    model: nn.Module,
    data: Encoded,
    inputs: Sequence[str],
    batch_size: int,
    device: torch.device,
    precision: str = "fp32",
    pad_id: int = 0,
) -> np.ndarray:
    """Logits for every example, in the data's order, in this process alone."""
    batches = eval_batches(data.lengths, batch_size)
    return in_example_order(
        predict_batches(model, data, batches, inputs, device, precision, pad_id)
    )


class Trainer:
    """Trains one model with one loss on train/val, then evaluates test once.

    Under a launcher every process builds the same Trainer and calls `fit`; each gets the same
    `FitResult` (metrics are gathered), and only the main one writes checkpoints.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: Loss,
        config: TrainConfig,
        *,
        inputs: Sequence[str] = ("input_ids", "attention_mask"),
        seed: int = 0,
        checkpoint_dir: Path | None = None,
        fingerprint: str = "",
        drop_last: bool = False,
        pad_id: int = 0,
        on_epoch: Callable[[EpochRecord], None] | None = None,
        objective: Objective | None = None,
        batches: Callable[[Encoded, int], list[np.ndarray]] | None = None,
    ) -> None:
        device = resolve_device(config.device)
        self.precision = resolve_precision(config.precision, device)
        self.accelerator = distributed.accelerator(device, self.precision)
        # cuda:<local rank> under a launcher. Accelerate numbers CPU workers' devices too
        # ("cpu:1"), which torch.load cannot map a checkpoint back to: plain "cpu" then.
        accelerated = self.accelerator.device
        self.device = accelerated if accelerated.type != "cpu" else torch.device("cpu")
        self.rank = self.accelerator.process_index
        self.processes = self.accelerator.num_processes
        # Moved before the optimizer is built, so a resumed optimizer's state lands beside it.
        self.model = model.to(self.device)
        self.loss = loss
        self.config = config
        self.inputs = tuple(inputs)
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir
        self.fingerprint = fingerprint
        self.drop_last = drop_last or loss.needs_teacher
        self.pad_id = pad_id
        self.on_epoch = on_epoch
        self.objective = objective or OBJECTIVES[loss.task]
        self.batch_plan = batches  # one epoch's index batches; None: length-grouped, shuffled

    def fit(self, train: Encoded, val: Encoded, test: Encoded) -> FitResult:
        self._check_inputs(train)
        seed_everything(self.seed)
        steps_per_epoch = len(self._batches(train, 0))
        if steps_per_epoch == 0:
            raise ValueError(
                f"{len(train)} training examples make no full batch of {self.config.batch_size}"
            )
        optimizer = build_optimizer(self.model, self.config)
        # Not prepared: one scheduler step per global batch, however many processes share it
        # (Accelerate's prepared scheduler steps once per process).
        schedule = build_schedule(optimizer, self.config, steps_per_epoch * self.config.epochs)
        state = _State()
        if self.checkpoint_dir is not None:
            state = self._resume(optimizer, schedule) or state
        resumed_from = state.epoch
        # DDP-wrapped (several processes) and autocast (bf16); `self.model` stays the bare one.
        model, optimizer = self.accelerator.prepare(self.model, optimizer)
        # Compiled for the training steps only; `model` stays the one unwrapped and saved.
        # Dynamic shapes: every batch is padded to its own longest text.
        step_model = (
            cast(nn.Module, torch.compile(model, dynamic=True)) if self.config.compile else model
        )
        for epoch in range(state.epoch + 1, self.config.epochs + 1):
            if self._patience_spent(state):  # also after resuming from a late checkpoint
                if self.accelerator.is_main_process:
                    log.info("early stop after epoch %d (best %d)", state.epoch, state.best_epoch)
                break
            start = time.perf_counter()
            train_loss, samples, tokens = self._train_epoch(
                step_model, train, epoch, optimizer, schedule
            )
            seconds = time.perf_counter() - start
            state.train_seconds += seconds
            state.train_samples += samples
            state.train_tokens += tokens
            record = self._validate(val, epoch, train_loss, seconds)
            state.history.append(record)
            if state.best is None or _better(record, state.history[state.best_epoch - 1]):
                state.best = copy.deepcopy(self.model.state_dict())
                state.best_epoch = epoch
            state.epoch = epoch
            self._checkpoint(state, optimizer, schedule)
            if self.on_epoch:
                self.on_epoch(record)
        assert state.best is not None
        # Drop Accelerate's autocast wrapper: what is saved and timed is the plain model.
        self.model = self.accelerator.unwrap_model(model, keep_fp32_wrapper=False)
        self.model.load_state_dict(state.best)
        temperature = None
        if self.objective.calibrate is not None:  # one more pass over validation
            temperature = self.objective.calibrate(self.predict(val), val)
        test_logits = self.predict(test)
        metrics = self.objective.evaluate(test_logits / (temperature or 1.0), test)
        uncalibrated = None if temperature is None else self.objective.evaluate(test_logits, test)
        return FitResult(
            best_epoch=state.best_epoch,
            history=state.history,
            test_logits=test_logits,
            test_metrics=metrics,
            train_seconds=state.train_seconds,
            train_samples=state.train_samples,
            train_tokens=state.train_tokens,
            resumed_from_epoch=resumed_from,
            device=self.device.type,
            precision=self.precision,
            processes=self.processes,
            temperature=temperature,
            uncalibrated_metrics=uncalibrated,
        )

    def predict(self, data: Encoded) -> np.ndarray:
        """Logits in the data's order; under a launcher each process predicts every N-th batch
        and all of them get the gathered whole."""
        batches = eval_batches(data.lengths, self.config.eval_batch_size)
        mine = batches[self.rank :: self.processes]
        args = (self.inputs, self.device, self.precision, self.pad_id)
        prediction = predict_batches(self.model, data, mine, *args)
        if self.processes > 1:
            prediction = self.accelerator.gather_for_metrics(prediction, use_gather_object=True)
        return in_example_order(prediction)

    def _batches(self, data: Encoded, epoch: int) -> list[np.ndarray]:
        if self.batch_plan is not None:
            return self.batch_plan(data, epoch)
        return train_batches(data.lengths, self.config.batch_size, self.seed, epoch, self.drop_last)

    def _patience_spent(self, state: _State) -> bool:
        """`train.patience` epochs have passed since the best one."""
        patience = self.config.patience
        return patience is not None and state.epoch - state.best_epoch >= patience

    def _check_inputs(self, data: Encoded) -> None:
        if self.loss.needs_teacher and "teacher_logits" not in data.extras:
            raise ValueError(
                f"loss {type(self.loss).__name__} needs cached teacher logits in the data"
            )

    def _train_epoch(
        self, model: nn.Module, data: Encoded, epoch: int, optimizer, schedule
    ) -> tuple[float, int, int]:
        model.train()
        torch.manual_seed(self.seed * 1_000 + epoch)  # dropout depends on (seed, epoch) only
        lengths = data.lengths
        loss_sum = torch.zeros((), device=self.device)  # summed on the device: no sync per step
        samples, tokens = 0, 0
        # Every process draws the same global batches; a final one smaller than the number of
        # processes would leave one empty-handed, so all skip it.
        batches = [b for b in self._batches(data, epoch) if len(b) >= self.processes]
        shards = [distributed.shard(b, self.rank, self.processes) for b in batches]
        progress = tqdm(shards, desc=f"epoch {epoch}", leave=False, disable=not _interactive())
        for indices, global_size, batch in zip(
            shards, map(len, batches), iterate(data, progress, self.pad_id), strict=True
        ):
            batch = {
                name: value.to(self.device, non_blocking=True) for name, value in batch.items()
            }
            logits = model(*(batch[name] for name in self.inputs))
            loss = self.loss.of_batch(logits, batch)
            scale = distributed.loss_scale(len(indices), global_size, self.processes)
            optimizer.zero_grad(set_to_none=True)
            self.accelerator.backward(loss * scale if scale != 1 else loss)
            if self.config.clip_norm:
                self.accelerator.clip_grad_norm_(model.parameters(), self.config.clip_norm)
            optimizer.step()
            schedule.step()
            loss_sum += loss.detach() * len(indices)
            samples += len(indices)
            tokens += int(lengths[indices].sum())
        # The epoch's one host sync: the loss summed over steps (and over processes).
        totals = torch.tensor([samples, tokens], dtype=torch.float64, device=self.device)
        totals = self.accelerator.reduce(torch.cat([loss_sum.double()[None], totals]), "sum")
        total, samples, tokens = totals.tolist()
        if not math.isfinite(total):
            raise FloatingPointError(
                f"training loss became {total} in epoch {epoch}; lower the learning rate"
            )
        return total / max(samples, 1), int(samples), int(tokens)

    def _validate(self, val: Encoded, epoch: int, train_loss: float, seconds: float) -> EpochRecord:
        metrics = self.objective.evaluate(self.predict(val), val)
        record = EpochRecord(
            epoch=epoch,
            train_loss=round(train_loss, 6),
            val_loss=round(metrics["loss"], 6),
            val_score=round(metrics[self.objective.score], 6),
            val_metrics={name: round(metrics[name], 6) for name in self.objective.curves},
            seconds=round(seconds, 3),
        )
        if self.accelerator.is_main_process:
            log.info("epoch %d: %s", epoch, record)
        return record

    # --- checkpoints ----------------------------------------------------------------------

    def _checkpoint(self, state: _State, optimizer, schedule) -> None:
        if self.checkpoint_dir is None or not self.accelerator.is_main_process:
            return
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        if state.best is not None and state.best_epoch == state.epoch:
            with atomic_path(self.checkpoint_dir / BEST_WEIGHTS) as tmp:
                save_file(contiguous_state(state.best), tmp)
        payload = {
            "fingerprint": self.fingerprint,
            "model": self.model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "epoch": state.epoch,
            "best_epoch": state.best_epoch,
            "history": [asdict(record) for record in state.history],
            "train_seconds": state.train_seconds,
            "train_samples": state.train_samples,
            "train_tokens": state.train_tokens,
        }
        with atomic_path(self.checkpoint_dir / CHECKPOINT) as tmp:
            torch.save(payload, tmp)

    def _resume(self, optimizer, schedule) -> _State | None:
        """Every process loads the main one's last checkpoint (a shared file system)."""
        assert self.checkpoint_dir is not None
        path = self.checkpoint_dir / CHECKPOINT
        if not path.is_file():
            return None
        # weights_only: our own checkpoint, yet never unpickle code from a file on disk.
        payload = torch.load(path, map_location=self.device, weights_only=True)  # noqa: TID251
        if payload.get("fingerprint") != self.fingerprint:
            if self.accelerator.is_main_process:
                log.warning("ignoring checkpoint %s: it belongs to other params or data", path)
            return None
        self.model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        schedule.load_state_dict(payload["schedule"])
        best = load_file(self.checkpoint_dir / BEST_WEIGHTS, device=str(self.device))
        state = _State(
            epoch=payload["epoch"],
            best_epoch=payload["best_epoch"],
            best=best,
            history=[EpochRecord(**record) for record in payload["history"]],
            train_seconds=payload["train_seconds"],
            train_samples=payload["train_samples"],
            train_tokens=payload["train_tokens"],
        )
        if self.accelerator.is_main_process:
            print(f"resuming from {path} after epoch {state.epoch}", file=sys.stderr)
        return state


def _interactive() -> bool:
    return sys.stderr.isatty() and distributed.is_main_process()


@dataclass
class _State:
    epoch: int = 0
    best_epoch: int = 0
    best: dict[str, Tensor] | None = None
    history: list[EpochRecord] = field(default_factory=list)
    train_seconds: float = 0.0
    train_samples: int = 0
    train_tokens: int = 0


def _better(record: EpochRecord, best: EpochRecord) -> bool:
    return (record.val_score, -record.val_loss) > (best.val_score, -best.val_loss)

"""Losses picked by name from a small registry; their weights come from params, not code.

Every loss is called as `loss(logits, labels, teacher_logits=None)` and returns the batch
mean. Distillation losses set `needs_teacher` and read cached teacher logits: the teacher is
never run during student training, and its logits are detached (no gradient reaches it).
`last_components` keeps the parts of the last call (e.g. `ce` and `kd`) for logging.
Distillation losses accept the label `UNLABELLED` (-1) for rows of a transfer set without a
gold label: their hard-label CE averages over the labelled rows only (0 when there are none),
their teacher term covers every row.
Inputs are upcast to float32 and autocast is switched off inside, so bf16 autocast is safe.
Each loss states the `task` it fits: `classification` losses take (batch, classes >= 2) logits
and integer class labels, `regression` losses (subclasses of `RegressionLoss`) take (batch,) or
(batch, 1) predictions and float targets; the training engine checks that a loss fits its task.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import warnings
from collections.abc import Callable
from numbers import Real
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LOSSES: dict[str, type[Loss]] = {}

# Label of a transfer-set row without a gold label (distillation losses only).
UNLABELLED = -1

# The official DIST code adds this to the product of norms (not torch's per-norm clamp).
DIST_EPS = 1e-8

# The loss of a regression head (one output, float targets): mean squared error.
REGRESSION_LOSS = "mse_regression"


def register(name: str) -> Callable[[type[Loss]], type[Loss]]:
    """Class decorator: make a Loss buildable as `build_loss(name, ...)`."""

    def add(cls: type[Loss]) -> type[Loss]:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} is registered twice")
        LOSSES[name] = cls
        return cls

    return add


def build_loss(name: str, **params: Any) -> Loss:
    """`LOSSES[name](**params)`; an unknown name, weight or bad value is a ValueError naming it."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}")
    cls = LOSSES[name]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"loss {name!r} has no parameter(s) {unknown}; it takes {allowed}")
    return cls(**params)


def _param(name: str, value: Any, ok: Callable[[float], bool], expected: str) -> float:
    """`value` as a float if it is a real number satisfying `ok`, else a ValueError naming it."""
    # bool is an int subclass: `alpha: true` in YAML is a typo, not 1.0.
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value):
        raise ValueError(f"{name} must be a number {expected}, got {value!r}")
    if not ok(float(value)):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def _unit(name: str, value: Any) -> float:
    return _param(name, value, lambda v: 0.0 <= v <= 1.0, "in [0, 1]")


def _nonnegative(name: str, value: Any) -> float:
    return _param(name, value, lambda v: 0.0 <= v < math.inf, ">= 0 and finite")


def _positive(name: str, value: Any) -> float:
    return _param(name, value, lambda v: 0.0 < v < math.inf, "> 0 and finite")


def labelled_ce(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy over the rows whose label is not `UNLABELLED`; 0 if there are none.

    With every row labelled it equals `F.cross_entropy(logits, labels)`. Unlabelled rows get no
    gradient from it. No host sync: the count is clamped instead of tested.
    """
    labelled = labels != UNLABELLED
    total = F.cross_entropy(logits, labels, ignore_index=UNLABELLED, reduction="sum")
    return total / labelled.sum().clamp(min=1).to(total.dtype)


def _no_autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Switch autocast off so the loss really runs in float32 (softmax/log of bf16 is coarse)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


class Loss(nn.Module):
    """Base class: `forward(logits, labels, teacher_logits=None) -> scalar` batch mean.

    `forward` checks the inputs, upcasts them to float32 and calls `compute`, which subclasses
    implement and which returns the loss and its named parts.
    """

    needs_teacher: ClassVar[bool] = False
    # Whether rows labelled `UNLABELLED` (-1) are allowed (their CE term skips them).
    accepts_unlabelled: ClassVar[bool] = False
    # What the loss fits: "classification" (class logits, integer labels) or "regression"
    # (one output per example, float targets). Composite losses may name their own kind.
    task: ClassVar[str] = "classification"

    def __init__(self) -> None:
        super().__init__()
        self.last_components: dict[str, float] = {}

    def forward(
        self, logits: Tensor, labels: Tensor, teacher_logits: Tensor | None = None
    ) -> Tensor:
        self._check(logits, labels, teacher_logits)
        teacher = None
        if self.needs_teacher and teacher_logits is not None:
            teacher = teacher_logits.detach().float()  # the teacher is fixed: no gradient
        with _no_autocast(logits.device):
            loss, parts = self.compute(logits.float(), self._targets(labels), teacher)
        # One host sync for all parts instead of one `.item()` each.
        values = torch.stack([p.detach() for p in parts.values()]).tolist()
        self.last_components = dict(zip(parts, values, strict=True))
        return loss

    def of_batch(self, outputs: Tensor, batch: dict[str, Tensor]) -> Tensor:
        """The loss of a model's outputs on a collated batch (its `labels`, and its cached
        `teacher_logits` if any): what the training engine calls. Losses that need more of the
        batch (e.g. a multitask loss reading each row's task) override it."""
        return self(outputs, batch["labels"], batch.get("teacher_logits"))

    def compute(
        self, logits: Tensor, labels: Tensor, teacher: Tensor | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def _targets(self, labels: Tensor) -> Tensor:
        """The labels as `compute` takes them: class indices (int64)."""
        return labels.long()

    def _check(self, logits: Tensor, labels: Tensor, teacher_logits: Tensor | None) -> None:
        self._check_labels(logits, labels)
        self._check_teacher(logits, teacher_logits)

    def _check_labels(self, logits: Tensor, labels: Tensor) -> None:
        name = type(self).__name__
        if logits.dim() != 2 or logits.shape[0] == 0 or logits.shape[1] < 2:
            raise ValueError(
                f"{name}: logits must be (batch >= 1, classes >= 2), got {tuple(logits.shape)}"
            )
        if labels.shape != logits.shape[:1]:
            raise ValueError(
                f"{name}: labels must be ({logits.shape[0]},) to match logits "
                f"{tuple(logits.shape)}, got {tuple(labels.shape)}"
            )
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ValueError(f"{name}: labels must be integer class indices, got {labels.dtype}")
        # Checked here: out-of-range labels are a device-side assert on CUDA, not an error.
        low = UNLABELLED if self.accepts_unlabelled else 0
        if bool(((labels < low) | (labels >= logits.shape[1])).any()):
            unlabelled = f" or {UNLABELLED} (unlabelled)" if self.accepts_unlabelled else ""
            raise ValueError(f"{name}: labels must be in [0, {logits.shape[1]}){unlabelled}")

    def _check_teacher(self, logits: Tensor, teacher_logits: Tensor | None) -> None:
        name = type(self).__name__
        if not self.needs_teacher:
            return
        if teacher_logits is None:
            raise ValueError(
                f"{name} distils from a teacher: pass teacher_logits (cached by the teacher stage)"
            )
        if teacher_logits.shape != logits.shape:
            raise ValueError(
                f"{name}: teacher logits {tuple(teacher_logits.shape)} do not "
                f"match student logits {tuple(logits.shape)}"
            )


class RegressionLoss(Loss):
    """Base class of regression losses: `forward(predictions, targets)` with predictions of
    shape (batch,) or (batch, 1) (a one-output head) and finite float targets of shape (batch,).
    `compute` receives both flattened to (batch,), in float32.
    """

    task: ClassVar[str] = "regression"

    def _targets(self, labels: Tensor) -> Tensor:
        return labels.float()

    def compute(
        self, logits: Tensor, labels: Tensor, teacher: Tensor | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        return self.regress(logits.reshape(-1), labels)

    def regress(self, predictions: Tensor, targets: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def _check_labels(self, logits: Tensor, labels: Tensor) -> None:
        name = type(self).__name__
        one_output = logits.dim() == 1 or (logits.dim() == 2 and logits.shape[1] == 1)
        if not one_output or logits.shape[0] == 0:
            raise ValueError(
                f"{name}: predictions must be (batch >= 1,) or (batch >= 1, 1) (one output per "
                f"example), got {tuple(logits.shape)}"
            )
        if labels.shape != logits.shape[:1]:
            raise ValueError(
                f"{name}: targets must be ({logits.shape[0]},) to match predictions "
                f"{tuple(logits.shape)}, got {tuple(labels.shape)}"
            )
        if not labels.is_floating_point():
            raise ValueError(
                f"{name}: targets must be float (a regression target), got {labels.dtype}; "
                "integer labels are class indices: use a classification loss"
            )
        if not bool(torch.isfinite(labels).all()):
            raise ValueError(f"{name}: targets must be finite numbers, got NaN or infinity")


@register(REGRESSION_LOSS)
class MSERegression(RegressionLoss):
    """Mean squared error of a regression head (the minBERT study's STS similarity head):

        L = mean_i (f(x_i) - y_i)^2,

    f(x_i) the head's single output and y_i the float target (Gauss's least squares; the
    maximum-likelihood fit under Gaussian noise). `last_components`: `mse`. Not to be confused
    with `mse`, the logit-matching distillation loss.
    """

    def regress(self, predictions: Tensor, targets: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        loss = F.mse_loss(predictions, targets)
        return loss, {"mse": loss}


@register("ce")
class CrossEntropy(Loss):
    """Cross-entropy: L = -mean_i log softmax(z_i)[y_i].

    With label smoothing eps (Szegedy et al. 2016, "Rethinking the Inception Architecture"),
    the target is (1 - eps) one_hot(y) + eps / K, as `torch.nn.functional.cross_entropy`.
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = _param(
            "label_smoothing", label_smoothing, lambda v: 0.0 <= v < 1.0, "in [0, 1)"
        )

    def compute(
        self, logits: Tensor, labels: Tensor, teacher: Tensor | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        return loss, {"ce": loss}


@register("focal")
class FocalLoss(Loss):
    """Focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection"), in two forms.

    `sigmoid` (default; what the source study ran, pytorch-toolbelt 0.5.2 `FocalLoss(alpha,
    gamma)`): one-vs-rest binary focal losses over one-hot targets,
        p = sigmoid(z), t_ic = [y_i = c], pt = p t + (1 - p)(1 - t),
        w = alpha t + (1 - alpha)(1 - t)   (w = 1 when alpha is None),
        FL = sum_c mean_i [ w_ic (1 - pt_ic)^gamma BCEWithLogits(z_ic, t_ic) ].
    toolbelt loops over the classes, reduces each by its batch mean and sums the classes; so
    does this (so the value grows with the number of classes). With gamma = 0 and
    alpha = 0.5 it is half the summed per-class BCE.

    `softmax` (the paper's multi-class form):
        FL = mean_i [ -alpha (1 - p_{i,y_i})^gamma log p_{i,y_i} ],  p = softmax(z).
    A float alpha is one weight for every class (as kornia's `focal_loss`): it only rescales
    the loss, so pass alpha=None (no weighting) unless matching such an implementation.
    With gamma = 0 and alpha None it is cross-entropy.
    """

    def __init__(
        self,
        form: Literal["sigmoid", "softmax"] = "sigmoid",
        alpha: float | None = 0.2,
        gamma: float = 3.0,
    ) -> None:
        super().__init__()
        if form not in ("sigmoid", "softmax"):
            raise ValueError(f"form must be 'sigmoid' or 'softmax', got {form!r}")
        self.form = form
        self.alpha = None if alpha is None else _unit("alpha", alpha)
        self.gamma = _nonnegative("gamma", gamma)

    def compute(
        self, logits: Tensor, labels: Tensor, teacher: Tensor | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        if self.form == "sigmoid":
            loss = self._sigmoid(logits, labels)
        else:
            loss = self._softmax(logits, labels)
        return loss, {"focal": loss}

    def _sigmoid(self, logits: Tensor, labels: Tensor) -> Tensor:
        targets = F.one_hot(labels, logits.shape[1]).float()
        bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        p = torch.sigmoid(logits)
        pt = p * targets + (1 - p) * (1 - targets)
        loss = (1 - pt).pow(self.gamma) * bce
        if self.alpha is not None:
            loss = loss * (self.alpha * targets + (1 - self.alpha) * (1 - targets))
        return loss.mean(dim=0).sum()  # toolbelt: per-class batch mean, summed over classes

    def _softmax(self, logits: Tensor, labels: Tensor) -> Tensor:
        log_p = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
        # 1 - p as -expm1(log p): exact when p is close to 1, where plain 1 - p cancels.
        loss = -(-torch.expm1(log_p)).pow(self.gamma) * log_p
        if self.alpha is not None:
            loss = self.alpha * loss
        return loss.mean()


@register("kd")
class HintonKD(Loss):
    """Knowledge distillation (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"):

        L = (1 - alpha) CE(z_s, y) + alpha T^2 KL( softmax(z_t / T) || softmax(z_s / T) ),

    KL summed over classes and averaged over the batch (`batchmean`, the true KL; `mean`
    would divide by K too). The soft-target gradients scale as 1/T^2, so T^2 keeps the two
    terms' balance independent of T. `last_components["kd"]` is T^2 KL. CE averages over the
    labelled rows only (label -1 marks an unlabelled row; CE is 0 if none is labelled).
    """

    needs_teacher = True
    accepts_unlabelled = True

    def __init__(self, alpha: float = 0.5, temperature: float = 4.0) -> None:
        super().__init__()
        self.alpha = _unit("alpha", alpha)
        self.temperature = _positive("temperature", temperature)

    def compute(
        self, logits: Tensor, labels: Tensor, teacher: Tensor | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        assert teacher is not None  # checked in forward
        t = self.temperature
        ce = labelled_ce(logits, labels)
        log_s = F.log_softmax(logits / t, dim=1)
        log_t = F.log_softmax(teacher / t, dim=1)
        kd = t * t * F.kl_div(log_s, log_t, reduction="batchmean", log_target=True)
        return (1 - self.alpha) * ce + self.alpha * kd, {"ce": ce, "kd": kd}


@register("mse")
class LogitMSE(Loss):
    """Logit matching (Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT into
    Simple Neural Networks"): the student regresses the teacher's logits,

        L = alpha CE(z_s, y) + (1 - alpha) mean_{i,c} (z_s[i, c] - z_t[i, c])^2,

    CE over the labelled rows only (label -1 marks a transfer-set row without a gold label;
    CE is 0 when no row is labelled), the squared error over every row and class (the paper's
    squared L2 distance per example, divided by the number of classes K). Note: here alpha
    weighs the hard-label term, as in the paper; in `kd` it weighs the teacher term.
    `last_components`: `ce` and `mse`.
    """

    needs_teacher = True
    accepts_unlabelled = True

    def __init__(self, alpha: float = 0.5) -> None:
        super().__init__()
        self.alpha = _unit("alpha", alpha)

    def compute(
        self, logits: Tensor, labels: Tensor, teacher: Tensor | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        assert teacher is not None  # checked in forward
        ce = labelled_ce(logits, labels)
        mse = F.mse_loss(logits, teacher)
        return self.alpha * ce + (1 - self.alpha) * mse, {"ce": ce, "mse": mse}


def pearson_rows(a: Tensor, b: Tensor, eps: float = DIST_EPS) -> Tensor:
    """Row-wise Pearson correlation, exactly as the official DIST code:
    cos(a - mean a, b - mean b) with cos(u, v) = u.v / (|u| |v| + eps).
    """
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


@register("dist")
class DISTLoss(Loss):
    """DIST (Huang et al. 2022, "Knowledge Distillation from A Stronger Teacher"), as the
    official code (github.com/hunto/DIST_KD), plus the label term:

        y_s = softmax(z_s / tau), y_t = softmax(z_t / tau)
        inter = tau^2 (1 - mean_i pearson(y_s[i, :], y_t[i, :]))   relations between classes
        intra = tau^2 (1 - mean_c pearson(y_s[:, c], y_t[:, c]))   relations within a class
        L = ce_weight CE(z_s, y) + beta inter + gamma intra,   CE on raw logits.

    Two classes: each probability row is (p, 1 - p), centred +-(p - 1/2)(1, -1), so the
    row correlation is just sign((p_s - 1/2)(p_t - 1/2)): inter is 0 or 2, with no gradient;
    only intra transfers anything (a warning says so). One example per batch: a class column
    has one entry, whose correlation is undefined (ValueError; drop the last partial batch).
    CE averages over the labelled rows only (label -1 marks an unlabelled row; CE is 0 if none
    is labelled); inter and intra use every row.
    """

    needs_teacher = True
    accepts_unlabelled = True

    def __init__(
        self, beta: float = 2.0, gamma: float = 2.0, tau: float = 1.0, ce_weight: float = 1.0
    ) -> None:
        super().__init__()
        self.beta = _nonnegative("beta", beta)
        self.gamma = _nonnegative("gamma", gamma)
        self.tau = _positive("tau", tau)
        self.ce_weight = _nonnegative("ce_weight", ce_weight)
        self._warned = False

    def compute(
        self, logits: Tensor, labels: Tensor, teacher: Tensor | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        assert teacher is not None  # checked in forward
        self._check_shape(logits)
        y_s = F.softmax(logits / self.tau, dim=1)
        y_t = F.softmax(teacher / self.tau, dim=1)
        tau2 = self.tau**2
        inter = tau2 * (1 - pearson_rows(y_s, y_t).mean())
        intra = tau2 * (1 - pearson_rows(y_s.T, y_t.T).mean())
        ce = labelled_ce(logits, labels)
        loss = self.ce_weight * ce + self.beta * inter + self.gamma * intra
        return loss, {"ce": ce, "inter": inter, "intra": intra}

    def _check_shape(self, logits: Tensor) -> None:
        if logits.shape[0] < 2:
            raise ValueError(
                "DIST needs at least 2 examples per batch: its intra-class term correlates "
                "each class's probabilities across the batch; drop the last partial batch"
            )
        if logits.shape[1] == 2 and not self._warned:
            self._warned = True
            warnings.warn(
                "DIST with 2 classes: every probability row is (p, 1 - p), so the inter-class "
                "correlation is only the sign of (p_s - 1/2)(p_t - 1/2) and gives no gradient; "
                "only the intra-class term (and CE) train the student",
                UserWarning,
                stacklevel=2,
            )

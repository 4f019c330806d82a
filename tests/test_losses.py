"""The loss registry against hand-computed values and known reductions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from textdistill.losses import LOSSES, RegressionLoss, build_loss

LOGITS = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
LABELS = torch.tensor([0, 1])


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_registry_names_and_errors() -> None:
    assert set(LOSSES) == {"ce", "focal", "kd", "dist", "mse", "mse_regression"}
    with pytest.raises(ValueError, match="unknown loss 'l2'"):
        build_loss("l2")
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['temp'\]"):
        build_loss("kd", temp=2.0)
    with pytest.raises(ValueError, match="alpha must be in"):
        build_loss("focal", alpha=1.5)


def test_ce_matches_hand_value() -> None:
    expected = (-math.log(math.exp(2) / (math.exp(2) + 1)) - math.log(math.e / (1 + math.e))) / 2
    assert build_loss("ce")(LOGITS, LABELS).item() == pytest.approx(expected)


def test_sigmoid_focal_hand_value() -> None:
    alpha, gamma = 0.2, 3.0
    # Per class c, per example i: w * (1 - pt)^gamma * BCE; mean over i, sum over c.
    total = 0.0
    for c in range(2):
        per_example = []
        for i in range(2):
            z, t = LOGITS[i, c].item(), float(LABELS[i].item() == c)
            p = sigmoid(z)
            pt = p * t + (1 - p) * (1 - t)
            w = alpha * t + (1 - alpha) * (1 - t)
            per_example.append(w * (1 - pt) ** gamma * -math.log(pt))
        total += sum(per_example) / 2
    assert build_loss("focal")(LOGITS, LABELS).item() == pytest.approx(total, rel=1e-6)


def test_sigmoid_focal_gamma0_alpha_half_is_half_summed_bce() -> None:
    logits, labels = torch.randn(8, 4), torch.randint(0, 4, (8,))
    bce = F.binary_cross_entropy_with_logits(logits, F.one_hot(labels, 4).float(), reduction="none")
    expected = 0.5 * bce.mean(0).sum()
    assert build_loss("focal", alpha=0.5, gamma=0.0)(logits, labels).item() == pytest.approx(
        expected.item(), rel=1e-6
    )


def test_softmax_focal_hand_value_and_ce_reduction() -> None:
    p0 = math.exp(2) / (math.exp(2) + 1)
    p1 = math.e / (1 + math.e)
    expected = (-((1 - p0) ** 2) * math.log(p0) - (1 - p1) ** 2 * math.log(p1)) / 2 * 0.25
    loss = build_loss("focal", form="softmax", alpha=0.25, gamma=2.0)
    assert loss(LOGITS, LABELS).item() == pytest.approx(expected, rel=1e-6)
    logits, labels = torch.randn(8, 4), torch.randint(0, 4, (8,))
    plain = build_loss("focal", form="softmax", alpha=None, gamma=0.0)(logits, labels)
    assert plain.item() == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-6)


def test_kd_hand_value_and_temperature_scaling() -> None:
    student, teacher = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    label = torch.tensor([0])
    t = 2.0
    ps = [math.exp(0.5) / (math.exp(0.5) + 1), 1 / (math.exp(0.5) + 1)]
    pt = [ps[1], ps[0]]
    kl = sum(q * math.log(q / p) for q, p in zip(pt, ps, strict=True))
    ce = -math.log(math.e / (math.e + 1))
    loss = build_loss("kd", alpha=0.3, temperature=t)
    assert loss(student, label, teacher).item() == pytest.approx(
        0.7 * ce + 0.3 * t * t * kl, rel=1e-6
    )
    assert loss.last_components["kd"] == pytest.approx(t * t * kl, rel=1e-6)


def test_kd_losses_need_teacher_logits() -> None:
    for name in ("kd", "dist", "mse"):
        with pytest.raises(ValueError, match="pass teacher_logits"):
            build_loss(name)(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))


def test_dist_hand_value() -> None:
    student = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    teacher = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    labels = torch.tensor([0, 1])

    def softmax(row: list[float]) -> list[float]:
        e = [math.exp(v) for v in row]
        return [v / sum(e) for v in e]

    def pearson(a: list[float], b: list[float]) -> float:
        ma, mb = sum(a) / len(a), sum(b) / len(b)
        da, db = [x - ma for x in a], [x - mb for x in b]
        return sum(x * y for x, y in zip(da, db, strict=True)) / math.sqrt(
            sum(x * x for x in da) * sum(y * y for y in db)
        )

    ys = [softmax(r) for r in student.tolist()]
    yt = [softmax(r) for r in teacher.tolist()]
    inter = 1 - sum(pearson(ys[i], yt[i]) for i in range(2)) / 2
    intra = 1 - sum(pearson([ys[0][c], ys[1][c]], [yt[0][c], yt[1][c]]) for c in range(3)) / 3
    ce = F.cross_entropy(student, labels).item()
    loss = build_loss("dist")
    assert loss(student, labels, teacher).item() == pytest.approx(
        ce + 2 * inter + 2 * intra, rel=1e-5
    )
    assert loss.last_components["inter"] == pytest.approx(inter, rel=1e-5)


def test_dist_identical_predictions_have_no_relation_loss() -> None:
    logits = 3 * torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    loss = build_loss("dist", tau=2.0)
    loss(logits, torch.randint(0, 4, (6,)), logits.clone())
    assert loss.last_components["inter"] == pytest.approx(0.0, abs=1e-4)
    assert loss.last_components["intra"] == pytest.approx(0.0, abs=1e-4)


def test_dist_warns_on_two_classes_and_rejects_batch_of_one() -> None:
    loss = build_loss("dist")
    with pytest.warns(UserWarning, match="2 classes"):
        loss(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]), torch.randn(4, 2))
    with pytest.raises(ValueError, match="at least 2 examples"):
        loss(torch.randn(1, 3), torch.tensor([0]), torch.randn(1, 3))


def test_losses_accept_bf16_inputs() -> None:
    logits = torch.randn(4, 3, dtype=torch.bfloat16, requires_grad=True)
    loss = build_loss("dist")(
        logits, torch.tensor([0, 1, 2, 0]), torch.randn(4, 3, dtype=torch.bfloat16)
    )
    assert loss.dtype == torch.float32
    loss.backward()
    assert logits.grad is not None


# --- logit MSE (Tang et al. 2019) and unlabelled transfer-set rows (label -1) ---------------


def test_mse_hand_value() -> None:
    student = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    teacher = torch.tensor([[3.0, -1.0], [0.5, 2.0]])
    labels = torch.tensor([0, 1])
    # squared errors: (1-3)^2=4, (0+1)^2=1, (0-0.5)^2=0.25, (2-2)^2=0 -> mean 5.25/4
    mse = 5.25 / 4
    ce = (-math.log(math.e / (math.e + 1)) - math.log(math.exp(2) / (math.exp(2) + 1))) / 2
    loss = build_loss("mse", alpha=0.3)
    assert loss(student, labels, teacher).item() == pytest.approx(0.3 * ce + 0.7 * mse, rel=1e-6)
    assert loss.last_components["mse"] == pytest.approx(mse, rel=1e-6)
    assert loss.last_components["ce"] == pytest.approx(ce, rel=1e-6)
    # alpha = 0: pure logit matching; alpha = 1: pure CE.
    assert build_loss("mse", alpha=0.0)(student, labels, teacher).item() == pytest.approx(mse)
    assert build_loss("mse", alpha=1.0)(student, labels, teacher).item() == pytest.approx(ce)


def test_mse_ce_uses_labelled_rows_only() -> None:
    student = torch.tensor([[1.0, 0.0], [0.0, 2.0], [5.0, -5.0]])
    teacher = torch.tensor([[3.0, -1.0], [0.5, 2.0], [5.0, -4.0]])
    labels = torch.tensor([0, -1, 1])  # the middle row has no gold label
    ce = (-math.log(math.e / (math.e + 1)) + F.cross_entropy(student[2:], labels[2:]).item()) / 2
    mse = (4 + 1 + 0.25 + 0 + 0 + 1) / 6
    loss = build_loss("mse", alpha=0.4)
    assert loss(student, labels, teacher).item() == pytest.approx(0.4 * ce + 0.6 * mse, rel=1e-6)


@pytest.mark.filterwarnings("ignore:DIST with 2 classes")
@pytest.mark.parametrize("name", ["kd", "dist", "mse"])
def test_distillation_ce_skips_unlabelled_rows(name: str) -> None:
    generator = torch.Generator().manual_seed(1)
    student = torch.randn(6, 3, generator=generator, requires_grad=True)
    teacher = torch.randn(6, 3, generator=generator)
    labels = torch.tensor([0, -1, 2, -1, 1, 1])
    labelled = labels >= 0
    loss = build_loss(name)
    value = loss(student, labels, teacher)
    expected_ce = F.cross_entropy(student[labelled], labels[labelled]).item()
    assert loss.last_components["ce"] == pytest.approx(expected_ce, rel=1e-6)
    # Giving the -1 rows a label changes the loss: they really were left out of CE.
    relabelled = build_loss(name)(student, torch.tensor([0, 1, 2, 0, 1, 1]), teacher)
    assert relabelled.item() != pytest.approx(value.item())
    # Every row unlabelled: CE is 0 and only the teacher term remains.
    none = build_loss(name)
    total = none(student, torch.full((6,), -1), teacher)
    assert none.last_components["ce"] == 0.0
    assert torch.isfinite(total)
    total.backward()
    assert student.grad is not None and torch.isfinite(student.grad).all()


@pytest.mark.filterwarnings("ignore:DIST with 2 classes")
@pytest.mark.parametrize("name", ["kd", "dist"])
def test_kd_and_dist_unchanged_when_every_row_is_labelled(name: str) -> None:
    generator = torch.Generator().manual_seed(2)
    student, teacher = (
        torch.randn(16, 4, generator=generator),
        torch.randn(16, 4, generator=generator),
    )
    labels = torch.randint(0, 4, (16,), generator=generator)
    loss = build_loss(name)
    value = loss(student, labels, teacher)
    # Bit for bit the plain batch-mean CE of before.
    assert loss.last_components["ce"] == F.cross_entropy(student, labels).item()
    parts = loss.last_components
    if name == "kd":
        expected = 0.5 * parts["ce"] + 0.5 * parts["kd"]
    else:
        expected = parts["ce"] + 2 * parts["inter"] + 2 * parts["intra"]
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_unlabelled_rows_only_for_distillation_losses() -> None:
    logits, labels = torch.randn(3, 2), torch.tensor([0, -1, 1])
    for name in ("ce", "focal"):
        with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)$"):
            build_loss(name)(logits, labels)
    with pytest.raises(ValueError, match=r"or -1 \(unlabelled\)"):
        build_loss("mse")(logits, torch.tensor([0, -2, 1]), torch.randn(3, 2))


def test_mse_rejects_bad_alpha() -> None:
    for alpha in (-0.1, 1.5, True, float("nan")):
        with pytest.raises(ValueError, match="alpha must be"):
            build_loss("mse", alpha=alpha)


# --- regression (the minBERT study's STS head) ------------------------------------------------


def test_every_loss_states_its_task() -> None:
    tasks = {name: cls.task for name, cls in LOSSES.items()}
    assert tasks == {
        "ce": "classification",
        "focal": "classification",
        "kd": "classification",
        "dist": "classification",
        "mse": "classification",
        "mse_regression": "regression",
    }
    assert all(
        issubclass(cls, RegressionLoss) == (cls.task == "regression") for cls in LOSSES.values()
    )
    assert not LOSSES["mse_regression"].needs_teacher


def test_mse_regression_hand_value_for_both_prediction_shapes() -> None:
    predictions = torch.tensor([[1.0], [2.5], [-1.0], [4.0]])
    targets = torch.tensor([1.5, 2.5, 0.0, 2.0])
    # squared errors: 0.25, 0, 1, 4 -> mean 5.25 / 4
    expected = 5.25 / 4
    loss = build_loss("mse_regression")
    assert loss(predictions, targets).item() == pytest.approx(expected, rel=1e-7)
    assert loss.last_components == {"mse": pytest.approx(expected, rel=1e-7)}
    assert loss(predictions[:, 0], targets).item() == pytest.approx(expected, rel=1e-7)
    # float64 targets (e.g. labels of a mixed multitask batch) are accepted, computed in float32
    value = loss(predictions, targets.double())
    assert value.dtype == torch.float32 and value.item() == pytest.approx(expected, rel=1e-7)


def test_mse_regression_gradient_is_two_times_error_over_n() -> None:
    predictions = torch.tensor([[1.0], [3.0]], dtype=torch.bfloat16, requires_grad=True)
    loss = build_loss("mse_regression")(predictions, torch.tensor([0.0, 4.0]))
    assert loss.dtype == torch.float32 and loss.item() == pytest.approx(1.0)
    loss.backward()
    assert predictions.grad is not None
    # d/dp mean (p - y)^2 = 2 (p - y) / n: (2 * 1 / 2, 2 * -1 / 2)
    assert predictions.grad.float()[:, 0].tolist() == [1.0, -1.0]


@pytest.mark.parametrize(
    ("predictions", "targets", "message"),
    [
        (
            torch.randn(3, 2),
            torch.randn(3),
            r"predictions must be \(batch >= 1,\) or \(batch >= 1, 1\)",
        ),
        (torch.randn(3, 1, 1), torch.randn(3), "one output per example"),
        (torch.randn(0, 1), torch.randn(0), r"got \(0, 1\)"),
        (torch.randn(3, 1), torch.randn(4), r"targets must be \(3,\)"),
        (torch.randn(3, 1), torch.randn(3, 1), r"targets must be \(3,\)"),
        (
            torch.randn(3, 1),
            torch.tensor([0, 1, 2]),
            "targets must be float.*int64.*classification",
        ),
        (torch.randn(3), torch.tensor([1.0, float("nan"), 2.0]), "finite"),
        (torch.randn(3), torch.tensor([1.0, float("inf"), 2.0]), "finite"),
    ],
)
def test_mse_regression_rejects_bad_inputs(
    predictions: torch.Tensor, targets: torch.Tensor, message: str
) -> None:
    with pytest.raises(ValueError, match=f"MSERegression: .*{message}"):
        build_loss("mse_regression")(predictions, targets)


def test_classification_losses_reject_regression_inputs() -> None:
    with pytest.raises(ValueError, match="classes >= 2"):
        build_loss("ce")(torch.randn(3, 1), torch.tensor([0, 0, 0]))
    with pytest.raises(ValueError, match="integer class indices"):
        build_loss("ce")(torch.randn(3, 2), torch.tensor([0.5, 1.0, 0.0]))


def test_mse_regression_takes_no_parameters() -> None:
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['alpha'\]"):
        build_loss("mse_regression", alpha=0.5)

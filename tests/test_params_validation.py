"""Every params key is checked at load: a typo or a bad value fails before any stage works.

Loss weights, KD weights, the VDCNN and student constructors, architectures, finite numbers,
the cleaning replacement, and cross-checks knowable from params alone (token lengths within
the offline encoder's positions, a distilled student's batch within its training split).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from textdistill.config import (
    LOSS_PARAMS,
    STUDENT_PARAMS,
    VDCNNParams,
    parse_params,
)
from textdistill.errors import ParamsError
from textdistill.losses import LOSSES
from textdistill.models.cnn import STUDENTS
from textdistill.models.vdcnn import VDCNN

BASE = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())

Edit = Callable[[dict[str, Any]], None]
CASES: list[tuple[str, Edit, str]] = [
    ("typo in a DIST weight", lambda p: p["kd"]["dist"].update(tou=1.0), "kd.dist.tou"),
    ("KD alpha above 1", lambda p: p["kd"]["kd"].update(alpha=2.0), "kd.kd.alpha"),
    ("unknown KD mode", lambda p: p["kd"].update(fitnet={}), "kd.fitnet"),
    ("typo in the VDCNN", lambda p: p["teacher"]["vdcnn"].update(depht=9), "teacher.vdcnn.depht"),
    ("VDCNN depth 10", lambda p: p["teacher"]["vdcnn"].update(depth=10), "teacher.vdcnn.depth"),
    (
        "negative focal gamma",
        lambda p: p["losses"]["focal"].update(gamma=-1.0),
        "losses.focal.gamma",
    ),
    ("a KD loss to fine-tune", lambda p: p["losses"].update(kd={}), "losses.kd"),
    ("unknown architecture", lambda p: p["students"].update(archs=["lstm"]), "students.archs"),
    (
        "bad BiLSTM pooling",
        lambda p: p["students"]["model"]["bilstm"].update(pooling="avg"),
        "students.model.bilstm.pooling",
    ),
    (
        "unknown arch's params",
        lambda p: p["students"]["model"].update(gru={}),
        "students.model.gru",
    ),
    ("infinite lr", lambda p: p["finetune"]["train"].update(lr=float("inf")), "finetune.train.lr"),
    ("NaN lr", lambda p: p["students"]["train"].update(lr=float("nan")), "students.train.lr"),
    (
        "a group the pattern lacks",
        lambda p: p["prepare"]["amazon"]["clean"].update(replacement="\\1"),
        "prepare.amazon.clean",
    ),
    ("max_length 100000", lambda p: p["teacher"].update(max_length=100000), "teacher.max_length"),
    (
        "KD batch larger than the data",
        lambda p: p["students"]["train"].update(batch_size=5000),
        "prepare.agnews.splits.train",
    ),
    (
        "a dataset name with a space",
        lambda p: p["download"].update({"my data": p["download"]["amazon"]}),
        "my data",
    ),
    ("bad shared lr", lambda p: p["finetune"]["train"].update(lr=-1.0), "finetune.train.lr"),
    (
        "bad override",
        lambda p: p["finetune"]["models"]["tinybert"].update(lr=-1.0),
        "finetune.models.tinybert.lr",
    ),
]


@pytest.mark.parametrize(("case", "edit", "key"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_param_fails_at_load_naming_its_key(case: str, edit: Edit, key: str) -> None:
    params = copy.deepcopy(BASE)
    edit(params)
    with pytest.raises(ParamsError) as raised:
        parse_params(params, "params.yaml")
    message = str(raised.value)
    assert key in message, message
    assert len(message) < 600, "one screen, not a dump of the params"


def test_a_shared_value_is_blamed_on_the_shared_key_not_on_a_model() -> None:
    params = copy.deepcopy(BASE)
    params["finetune"]["train"]["lr"] = -1.0
    with pytest.raises(ParamsError) as raised:
        parse_params(params, "params.yaml")
    assert "finetune.models" not in str(raised.value)


def test_the_committed_params_still_load() -> None:
    parse_params(copy.deepcopy(BASE))


def parameters(constructor: Any, skip: set[str]) -> set[str]:
    return set(inspect.signature(constructor).parameters) - skip - {"self"}


def test_loss_mirrors_have_exactly_their_constructors_parameters() -> None:
    for name, mirror in LOSS_PARAMS.items():
        assert set(mirror.model_fields) == parameters(LOSSES[name], set()), name


def test_model_mirrors_have_exactly_their_constructors_parameters() -> None:
    data_given = {"num_classes", "input_dim", "vocab_size", "embed_dim"}  # from the data
    assert set(VDCNNParams.model_fields) == parameters(VDCNN, data_given)
    for arch, mirror in STUDENT_PARAMS.items():
        assert set(mirror.model_fields) == parameters(STUDENTS[arch], {"num_classes"}), arch

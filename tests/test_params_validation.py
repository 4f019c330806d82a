"""Every params key is checked at load: a typo or a bad value fails before any stage works.

Loss weights, KD weights, the VDCNN and student constructors, architectures, finite numbers,
the cleaning replacement, and cross-checks knowable from params alone (token lengths within
the offline encoder's positions, derived layers within their base, a distilled student's batch
within its training split). The mirrors of the constructors in config.py are checked against
the constructors themselves, so a new or changed parameter cannot pass load and fail later.
"""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from textdistill.config import (
    FINETUNE_LOSSES,
    KD_LOSSES,
    LOSS_PARAMS,
    STUDENT_PARAMS,
    KDMode,
    Section,
    StudentArch,
    VDCNNParams,
    merged_train_config,
    parse_params,
)
from textdistill.errors import ParamsError
from textdistill.losses import LOSSES
from textdistill.models import cnn, vdcnn
from textdistill.profiles import compose

REPO = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((REPO / "params.yaml").read_text())
DROP = object()  # a value that removes the key


def edited(*changes: tuple[str, Any]) -> dict[str, Any]:
    """The committed params with `dotted.key = value` changes (DROP removes the key)."""
    params = copy.deepcopy(BASE)
    for dotted, value in changes:
        *parents, last = dotted.split(".")
        node = params
        for part in parents:
            node = node.setdefault(part, {})
        if value is DROP:
            del node[last]
        else:
            node[last] = value
    return params


def error_of(params: dict[str, Any], source: str = "params.yaml") -> str:
    with pytest.raises(ParamsError) as raised:
        parse_params(params, source)
    return str(raised.value)


INF, NAN = float("inf"), float("nan")
HUB_BERT = {"source": "hub", "id": "bert-base-uncased", "revision": "main"}
# (what is wrong, the change, the dotted key the message must name)
CASES: list[tuple[str, tuple[str, Any], str]] = [
    # fine-tuning losses: a registered loss that needs no teacher, its constructor's params
    ("focal gamma < 0", ("losses.focal.gamma", -1.0), "losses.focal.gamma"),
    ("focal alpha > 1", ("losses.focal.alpha", 1.5), "losses.focal.alpha"),
    ("focal alpha a bool", ("losses.focal.alpha", True), "losses.focal.alpha"),
    ("focal form", ("losses.focal.form", "ovr"), "losses.focal.form"),
    ("focal typo", ("losses.focal.gama", 2.0), "losses.focal.gama"),
    ("ce smoothing 1", ("losses.ce.label_smoothing", 1.0), "losses.ce.label_smoothing"),
    ("kd as fine-tuning loss", ("losses.kd", {}), "losses.kd"),
    ("unknown loss", ("losses.xent", {}), "losses.xent"),
    ("loss not in losses", ("loss", "mse"), "loss is 'mse' but losses lists"),
    # KD modes: none/kd/dist, each with its loss's params
    ("DIST typo", ("kd.dist.tou", 1.0), "kd.dist.tou"),
    ("DIST tau 0", ("kd.dist.tau", 0.0), "kd.dist.tau"),
    ("DIST beta < 0", ("kd.dist.beta", -0.5), "kd.dist.beta"),
    ("KD alpha > 1", ("kd.kd.alpha", 2.0), "kd.kd.alpha"),
    ("KD temperature 0", ("kd.kd.temperature", 0), "kd.kd.temperature"),
    ("KD temperature inf", ("kd.kd.temperature", INF), "kd.kd.temperature"),
    ("plain student given KD weights", ("kd.none.alpha", 0.5), "kd.none.alpha"),
    ("unknown KD mode", ("kd.fitnet", {}), "kd.fitnet"),
    ("unknown student KD mode", ("students.kd_modes", ["none", "fitnet"]), "students.kd_modes"),
    # the VDCNN's constructor params
    ("VDCNN typo", ("teacher.vdcnn.depht", 9), "teacher.vdcnn.depht"),
    ("VDCNN depth 10", ("teacher.vdcnn.depth", 10), "teacher.vdcnn.depth"),
    ("VDCNN k 0", ("teacher.vdcnn.k", 0), "teacher.vdcnn.k"),
    ("VDCNN fc_dim < 0", ("teacher.vdcnn.fc_dim", -1), "teacher.vdcnn.fc_dim"),
    ("VDCNN pooling", ("teacher.vdcnn.pooling", "avg"), "teacher.vdcnn.pooling"),
    ("VDCNN shortcut a string", ("teacher.vdcnn.shortcut", "yes"), "teacher.vdcnn.shortcut"),
    ("VDCNN input_dim from data", ("teacher.vdcnn.input_dim", 768), "teacher.vdcnn.input_dim"),
    # students: known architectures, each with its constructor's params
    ("unknown arch", ("students.archs", ["lstm"]), "students.archs.0"),
    ("params of an unknown arch", ("students.model.gru", {}), "students.model.gru"),
    ("BiLSTM pooling", ("students.model.bilstm.pooling", "avg"), "students.model.bilstm.pooling"),
    ("BiLSTM layers 0", ("students.model.bilstm.num_layers", 0), "model.bilstm.num_layers"),
    ("CNN no channels", ("students.model.simple_cnn.channels", []), "simple_cnn.channels"),
    ("CNN channels null", ("students.model.simple_cnn.channels", None), "simple_cnn.channels"),
    ("CNN channel 0", ("students.model.simpler_cnn.channels", [0]), "simpler_cnn.channels.0"),
    ("LSTM key on a CNN", ("students.model.simpler_cnn.hidden_size", 8), "cnn.hidden_size"),
    ("embedding init", ("students.model.bilstm.embedding_init", "glove"), "embedding_init"),
    ("dropout 1", ("students.model.simpler_cnn.embedding_dropout", 1.0), "embedding_dropout"),
    (
        "vocab below the ids",
        ("students.model.simple_cnn.vocab_size", 1000),
        "simple_cnn.vocab_size",
    ),
    # finite numbers everywhere
    ("infinite lr", ("finetune.train.lr", INF), "finetune.train.lr"),
    ("NaN lr", ("students.train.lr", NAN), "students.train.lr"),
    ("infinite decay", ("teacher.train.weight_decay", INF), "teacher.train.weight_decay"),
    ("NaN noise", ("download.amazon.sample.label_noise", NAN), "amazon.sample.label_noise"),
    # the cleaning replacement must fit its pattern
    ("group the pattern lacks", ("prepare.amazon.clean.replacement", "\\1"), "clean.replacement"),
    ("unknown named group", ("prepare.agnews.clean.replacement", "\\g<w>"), "clean.replacement"),
    ("bad escape", ("prepare.amazon.clean.replacement", "\\q"), "clean.replacement"),
    # lengths within the offline encoder's positions (derived encoders inherit them)
    ("teacher length", ("teacher.max_length", 100000), "teacher.max_length"),
    ("shared length", ("finetune.train.max_length", 600), "finetune.train.max_length"),
    ("one model's length", ("finetune.models.tinybert.max_length", 513), "tinybert.max_length"),
    # encoders
    ("layer beyond the base", ("pretrained.tinybert.layers", [0, 6]), "pretrained.tinybert.layers"),
    ("fine-tune an unknown encoder", ("finetune.models.roberta", {}), "finetune.models.roberta"),
    ("unknown fine-tune head", ("finetune.pooling", "cls"), "finetune.pooling"),
    ("teacher's unknown encoder", ("teacher.encoder", "gpt"), "teacher.encoder"),
    ("derive from an unknown base", ("pretrained.tinybert.base", "roberta"), "tinybert.base"),
    ("dataset not prepared", ("teacher.dataset", "imdb"), "teacher.dataset"),
    # batches: a distilled student drops its last partial batch
    ("KD batch > split", ("students.train.batch_size", 5000), "prepare.agnews.splits.train"),
    ("DIST batch of 1", ("students.train.batch_size", 1), "students.train.batch_size"),
    (
        "one arch's KD batch > split",
        ("students.model.simpler_cnn.train", {"batch_size": 5000}),
        "students.model.simpler_cnn.train.batch_size",
    ),
    # an arch's own train settings
    ("bad arch lr", ("students.model.simple_cnn.train.lr", -1.0), "simple_cnn.train.lr"),
    ("arch train typo", ("students.model.bilstm.train", {"lrr": 1.0}), "bilstm.train.lrr"),
    ("arch train a list", ("students.model.bilstm.train", [1]), "students.model.bilstm.train"),
    # Tang et al.'s MSE on logits
    ("MSE alpha > 1", ("kd.mse.alpha", 1.5), "kd.mse.alpha"),
    ("MSE temperature", ("kd.mse.temperature", 2.0), "kd.mse.temperature"),
    # the teacher the students learn from
    ("teacher not a model dir", ("students.teacher", "models/vdcnn"), "students.teacher"),
    ("unknown fine-tuned teacher", ("students.teacher", "models/finetune/roberta"), "lists"),
    ("teacher on other data", ("students.teacher", "models/finetune/bert"), "finetune.dataset="),
    ("ensemble on other data", ("students.teacher", "models/finetune"), "finetune.dataset="),
    ("ensemble path typo", ("students.teacher", "models/finetune/"), "models/finetune (the ens"),
    # the transfer set
    ("mask probability > 1", ("transfer.augment.p_mask", 1.5), "transfer.augment.p_mask"),
    ("mask + replace > 1", ("transfer.augment.p_replace", 0.95), "p_mask + p_replace"),
    ("negative draws", ("transfer.augment.samples_per_example", -1), "samples_per_example"),
    ("n-gram of 0", ("transfer.augment.max_ngram", 0), "transfer.augment.max_ngram"),
    ("augment typo", ("transfer.augment.p_masking", 0.1), "transfer.augment.p_masking"),
    ("unlabelled format", ("transfer.unlabelled", [{"path": "a.txt", "format": "csv"}]), "format"),
    ("unlabelled without path", ("transfer.unlabelled", [{"format": "lines"}]), "path"),
    ("no neighbours", ("transfer.neighbours", 0), "transfer.neighbours"),
    # a bad value is blamed on the key it came from
    ("bad shared lr", ("finetune.train.lr", -1.0), "finetune.train.lr"),
    ("bad override", ("finetune.models.tinybert.lr", -1.0), "finetune.models.tinybert.lr"),
    ("override typo", ("finetune.models.bert.lrr", 1.0), "finetune.models.bert.lrr"),
    ("name with a space", ("download.my data", BASE["download"]["amazon"]), "download.my data"),
]


@pytest.mark.parametrize(("case", "change", "key"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_param_fails_at_load_naming_its_key(
    case: str, change: tuple[str, Any], key: str
) -> None:
    message = error_of(edited(change))
    assert key in message, message
    assert message.startswith("params.yaml: 1 invalid param(s)"), message
    assert len(message) < 400, "one screen, not a dump of the params"


def test_the_message_names_the_value_and_both_keys_of_a_cross_check() -> None:
    message = error_of(edited(("students.train.batch_size", 5000)))
    assert "students.train.batch_size" in message and "prepare.agnews.splits.train" in message
    assert "(got 5000)" in message
    message = error_of(edited(("kd.dist.tau", -2.0)))
    assert "kd.dist.tau" in message and "(got -2.0)" in message


def test_every_problem_is_listed_at_once_under_the_files_name() -> None:
    params = edited(("kd.dist.tou", 1.0), ("teacher.vdcnn.depht", 9), ("losses.focal.gama", 2.0))
    message = error_of(params, source="conf/profile/mine.yaml")
    assert message.startswith("conf/profile/mine.yaml: 3 invalid param(s)"), message
    for key in ("kd.dist.tou", "teacher.vdcnn.depht", "losses.focal.gama"):
        assert key in message


def test_a_shared_value_is_blamed_once_on_the_shared_key_not_on_each_model() -> None:
    message = error_of(edited(("finetune.train.lr", -1.0)))
    assert "finetune.models" not in message
    assert message.count("finetune.train.lr") == 1, message


def test_a_merged_config_names_where_each_bad_value_came_from() -> None:
    defaults = {"epochs": 1, "batch_size": 8, "lr": -1.0}
    with pytest.raises(ParamsError, match=r"finetune\.train\.lr"):
        merged_train_config(defaults, {"epochs": 2}, "finetune.models.bert", "finetune.train")
    with pytest.raises(ParamsError, match=r"finetune\.models\.bert\.epochs"):
        merged_train_config(defaults | {"lr": 1.0}, {"epochs": 0}, "finetune.models.bert", "ft")
    good = merged_train_config(defaults, {"lr": 0.1}, "finetune.models.bert", "finetune.train")
    assert good.lr == 0.1


@pytest.mark.parametrize(
    "changes",
    [
        # a plain (CE) student keeps its partial batch, so any batch makes a step
        [("students.train.batch_size", 5000), ("students.kd_modes", ["none"])],
        # `all` is not a number: nothing to compare
        [("students.train.batch_size", 5000), ("prepare.agnews.splits.train", "all")],
        # a hub encoder's positions are in its files: not knowable at load
        [
            ("pretrained.bert", HUB_BERT),
            ("teacher.max_length", 1024),
            ("students.model.simple_cnn.vocab_size", 1000),
        ],
        # an architecture the students do not train is not built
        [("students.model.bilstm.vocab_size", 1000)],
        [("prepare.amazon.clean.pattern", "(a)"), ("prepare.amazon.clean.replacement", "\\1")],
        [("prepare.amazon.clean.replacement", "\\\\")],  # a literal backslash
        [("teacher.max_length", 512), ("students.train.batch_size", 1600)],
        [("students.model.simple_cnn.channels", [8, 16]), ("kd.none.label_smoothing", 0.1)],
    ],
)
def test_edge_values_that_work_still_load(changes: list[tuple[str, Any]]) -> None:
    parse_params(edited(*changes))


@pytest.mark.parametrize("profile", ["quick", "paper", "real"])
def test_every_profile_validates(profile: str) -> None:
    params = parse_params(compose(profile, conf_dir=REPO / "conf"), source=profile)
    assert params.students_config().archs


def test_a_derive_cycle_is_refused() -> None:
    cycle = {"source": "derive", "base": "tinybert", "layers": [0]}
    assert "derives from itself" in error_of(edited(("pretrained.bert", cycle)))


# --- the mirrors in config.py match the constructors they stand for --------------------------


def signature(constructor: Any, given: set[str]) -> dict[str, Any]:
    """Keyword parameters and their defaults, less those the code gives (`num_classes`)."""
    return {
        name: p.default
        for name, p in inspect.signature(constructor).parameters.items()
        if name not in given | {"self"}
    }


def defaults(mirror: type[Section]) -> dict[str, Any]:
    return {name: field.default for name, field in mirror.model_fields.items()}


def normal(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def choices(mirror: type[Section], field: str) -> set[Any]:
    return set(get_args(mirror.model_fields[field].annotation))


def test_every_registered_loss_and_student_has_a_mirror() -> None:
    assert set(LOSS_PARAMS) == set(LOSSES)
    assert set(FINETUNE_LOSSES) == {
        n for n, c in LOSSES.items() if not c.needs_teacher and c.task == "classification"
    }
    assert set(get_args(KDMode)) == set(KD_LOSSES)
    assert all(LOSSES[loss].needs_teacher for mode, loss in KD_LOSSES.items() if mode != "none")
    assert set(STUDENT_PARAMS) == set(cnn.STUDENTS) == set(get_args(StudentArch))


def test_mirrors_have_their_constructors_parameters_and_defaults() -> None:
    for name, mirror in LOSS_PARAMS.items():
        assert defaults(mirror) == signature(LOSSES[name], set()), name
    for arch, mirror in STUDENT_PARAMS.items():
        expected = normal(signature(cnn.STUDENTS[arch], {"num_classes"}))
        assert defaults(mirror) == expected, arch
    # the teacher's features give input_dim; vocab_size/embed_dim are the token-id VDCNN's
    data_given = {"num_classes", "input_dim", "vocab_size", "embed_dim"}
    assert defaults(VDCNNParams) == signature(vdcnn.VDCNN, data_given)


def test_mirrors_offer_the_modules_choices() -> None:
    assert choices(VDCNNParams, "depth") == set(vdcnn.DEPTH_BLOCKS)
    assert choices(VDCNNParams, "pooling") == set(vdcnn.POOLINGS)
    assert choices(STUDENT_PARAMS["bilstm"], "pooling") == set(cnn.LSTM_POOLINGS)
    for mirror in STUDENT_PARAMS.values():
        assert choices(mirror, "embedding_init") == set(cnn.EMBEDDING_INITS)


def accepts(mirror: type[Section], values: dict[str, Any]) -> bool:
    try:
        mirror.model_validate(values)
    except Exception:
        return False
    return True


def builds(constructor: Any, values: dict[str, Any]) -> bool:
    try:
        constructor(**values)
    except (ValueError, TypeError):
        return False
    return True


# (name, field, values): each value accepted by the mirror exactly when its constructor accepts
# it, so no value passes load and fails in the stage, and no good value is refused.
LOSS_PROBES = [
    ("ce", "label_smoothing", [0.0, 0.99, 1.0, -0.1, INF]),
    ("focal", "alpha", [0.0, 1.0, None, 1.01, -0.1, NAN]),
    ("focal", "gamma", [0.0, 5.0, -1e-9, INF]),
    ("kd", "alpha", [0.0, 1.0, 1.5]),
    ("kd", "temperature", [1e-6, 0.0, -1.0, INF]),
    ("mse", "alpha", [0.0, 1.0, -0.5]),
    ("dist", "beta", [0.0, -1.0, INF]),
    ("dist", "gamma", [0.0, -1.0]),
    ("dist", "tau", [0.5, 0.0, NAN]),
    ("dist", "ce_weight", [0.0, -0.1]),
]
MODEL_PROBES = [
    ("depth", [9, 17, 29, 49, 10, 0]),
    ("k", [1, 0, -3]),
    ("fc_dim", [1, 0]),
    ("pooling", ["kmax", "adaptive", "avg"]),
]
STUDENT_PROBES = [
    ("simple_cnn", "channels", [[4], [4, 8], [], [0], [-1, 4]]),
    ("simpler_cnn", "embed_dim", [1, 0]),
    ("simpler_cnn", "embedding_init", ["random", "teacher_pca", "glove"]),
    ("bilstm", "hidden_size", [1, 0]),
    ("bilstm", "num_layers", [2, 0]),
    ("bilstm", "pooling", ["max", "mean", "last", "avg"]),
    ("bilstm", "embedding_dropout", [0.0, 0.5, 1.0, -0.1, NAN, True]),
    ("simpler_cnn", "embedding_dropout", [0.2, 0.999, 1.5]),
]


@pytest.mark.parametrize(("name", "field", "values"), LOSS_PROBES)
def test_loss_mirrors_accept_exactly_what_the_losses_accept(
    name: str, field: str, values: list[Any]
) -> None:
    for value in values:
        mirror_ok = accepts(LOSS_PARAMS[name], {field: value})
        assert mirror_ok == builds(LOSSES[name], {field: value}), (name, field, value)


@pytest.mark.parametrize(("field", "values"), MODEL_PROBES)
def test_the_vdcnn_mirror_accepts_exactly_what_the_vdcnn_accepts(
    field: str, values: list[Any]
) -> None:
    fixed = {"num_classes": 2, "input_dim": 4, "fc_dim": 4, "k": 2}
    for value in values:
        mirror_ok = accepts(VDCNNParams, {field: value})
        assert mirror_ok == builds(vdcnn.VDCNN, fixed | {field: value}), (field, value)


@pytest.mark.parametrize(("arch", "field", "values"), STUDENT_PROBES)
def test_student_mirrors_accept_exactly_what_the_students_accept(
    arch: str, field: str, values: list[Any]
) -> None:
    fixed = {"num_classes": 2, "vocab_size": 10, "embed_dim": 4}  # a tiny model each
    for value in values:
        mirror_ok = accepts(STUDENT_PARAMS[arch], {field: value})
        built = builds(cnn.STUDENTS[arch], fixed | {field: value})
        assert mirror_ok == built, (arch, field, value)


def test_mirrors_are_strict_on_types_where_a_constructor_would_coerce() -> None:
    # `mask_padding: "no"` is truthy to a constructor; a float width is a typo, not an int
    assert not accepts(VDCNNParams, {"mask_padding": "no"})
    assert not accepts(STUDENT_PARAMS["bilstm"], {"hidden_size": 8.0})
    assert not accepts(LOSS_PARAMS["kd"], {"temperature": "4"})


def test_a_fine_tuned_teacher_on_the_students_data_is_accepted() -> None:
    params = parse_params(
        edited(("finetune.dataset", "agnews"), ("students.teacher", "models/finetune/tinybert"))
    )
    assert params.students_config().teacher == "models/finetune/tinybert"
    assert params.teacher_ensemble() == []


def test_the_ensemble_of_the_finetune_branch_is_every_fine_tune_in_order() -> None:
    params = parse_params(
        edited(("finetune.dataset", "agnews"), ("students.teacher", "models/finetune"))
    )
    assert params.teacher_ensemble() == list(BASE["finetune"]["models"])
    assert len(params.teacher_ensemble()) == 3

"""Params are validated on load: unknown keys, wrong types and bad values name the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from textdistill.config import load_params, parse_params
from textdistill.errors import ParamsError
from textdistill.io import read_yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_the_quick_profile_is_valid() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.prepare["amazon"].splits.train == 1600
    assert params.download["agnews"].classes == ["World", "Sports", "Business", "Sci/Tech"]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ["prepare", "amazon", "splits", "trian"],
            5,
            "prepare.amazon.splits.trian: Extra inputs are not permitted",
        ),
        (["prepare", "amazon", "splits", "train"], "800", "prepare.amazon.splits.train"),
        (["prepare", "amazon", "splits", "train"], 0, "prepare.amazon.splits.train"),
        (["seed"], "42", "seed: Input should be a valid integer"),
        (
            ["download", "amazon", "format"],
            "xml",
            "download.amazon.format: Input should be 'fasttext'",
        ),
        (["download", "amazon", "source"], "files", "no 'files' section is given"),
        (["download", "amazon", "classes"], ["a", "a"], "class names must be unique"),
        (["prepare", "amazon", "clean", "pattern"], "[", "not a valid regular expression"),
    ],
)
def test_bad_params_name_the_key(raw: dict, path: list[str], value: object, message: str) -> None:
    bad = copy.deepcopy(raw)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ParamsError) as error:
        parse_params(bad, source="params.yaml")
    assert message in str(error.value)


def test_split_size_all_is_allowed(raw: dict) -> None:
    raw["prepare"]["amazon"]["splits"]["train"] = "all"
    assert parse_params(raw).prepare["amazon"].splits.train == "all"


def test_unknown_dataset_and_bad_files(raw: dict, tmp_path: Path) -> None:
    params = parse_params(raw)
    with pytest.raises(
        ParamsError,
        match=r"no prepare.imdb; prepare lists \['agnews', 'amazon', 'paraphrase', 'reviews', 'similarity'\]",
    ):
        params.prepare_config("imdb")
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "absent.yaml")
    (tmp_path / "p.yaml").write_text("seed: [1\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "p.yaml")


def test_a_student_arch_trains_with_its_own_overrides_of_the_shared_train(raw: dict) -> None:
    raw["students"]["model"]["simple_cnn"]["train"] = {"lr": 5e-4, "epochs": 10}
    raw["students"]["model"]["simpler_cnn"].pop("train", None)
    students = parse_params(raw).students_config()
    shared = raw["students"]["train"]
    tuned, plain = students.train_config("simple_cnn"), students.train_config("simpler_cnn")
    assert (tuned.lr, tuned.epochs, tuned.batch_size) == (5e-4, 10, shared["batch_size"])
    assert (plain.lr, plain.epochs) == (shared["lr"], shared["epochs"])
    assert "train" not in students.model_params("simple_cnn")  # not a constructor param


def test_students_read_the_vdcnn_teachers_length_unless_the_transfer_set_sets_its_own(
    raw: dict,
) -> None:
    """A fine-tuned teacher may read 128 tokens while the VDCNN's features stop at 64: the
    students' length is the transfer stage's own param."""
    raw["teacher"]["max_length"] = 64
    raw["transfer"]["max_length"] = None
    assert parse_params(raw).students_max_length() == 64
    raw["transfer"]["max_length"] = 128
    assert parse_params(raw).students_max_length() == 128
    raw["transfer"]["max_length"] = 0
    with pytest.raises(ParamsError, match="transfer.max_length"):
        parse_params(raw)


def test_params_are_read_as_dvc_reads_them_yaml_1_2(raw: dict, tmp_path: Path) -> None:
    """`dvc exp run -S` writes `lr: 5e-05`; PyYAML (YAML 1.1) reads the string '5e-05' (and
    `on` as True), so a stage would see other values than `dvc params diff` reports."""
    raw["students"]["train"]["lr"] = "LR"
    text = yaml.safe_dump(raw, sort_keys=False).replace("lr: LR", "lr: 5e-05")
    assert yaml.safe_load(text)["students"]["train"]["lr"] == "5e-05"  # the trap
    (tmp_path / "params.yaml").write_text(text)
    assert load_params(tmp_path / "params.yaml").students_config().train.lr == 5e-05
    assert read_yaml("flag: on") == {"flag": "on"}


def test_params_yaml_is_the_composed_quick_profile() -> None:
    from textdistill.profiles import compose

    assert compose("quick", conf_dir=REPO / "conf") == yaml.safe_load(
        (REPO / "params.yaml").read_text()
    )


def test_the_paper_profile_composes_to_valid_params() -> None:
    from textdistill.profiles import compose

    params = parse_params(compose("paper", conf_dir=REPO / "conf"))
    assert params.download["amazon"].source == "hub"
    assert params.pretrained["bert"].id == "bert-base-uncased"
    assert params.pretrained["tinybert"].id == "huawei-noah/TinyBERT_General_4L_312D"
    tinybert = params.finetune_config().train_config("tinybert")
    assert (tinybert.lr, tinybert.epochs, tinybert.batch_size, tinybert.max_length) == (
        2e-5,
        7,
        16,
        512,
    )
    assert params.finetune_config().train_config("bert").lr == 5e-6
    assert params.teacher_config().train.epochs == 30 and params.teacher_config().train.lr == 0.01
    assert params.students_config().train.epochs == 20

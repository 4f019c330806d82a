"""The leaderboard: rows from metrics files, compression and speed-up, summary, README block,
source figures shown only beside the source's own data, and the accuracy-vs-cost fronts."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from textdistill.config import DownloadConfig, parse_params
from textdistill.leaderboard import (
    README_END,
    README_START,
    accuracy_svg,
    distill_entries,
    finetune_entries,
    leaderboard,
    multitask_rows,
    pipeline_entries,
    render,
    render_multitask,
    source_dataset,
    source_figure,
    summary,
    with_results,
)

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
AMAZON = ["negative", "positive"]
AG_NEWS = ["World", "Sports", "Business", "Sci/Tech"]


def metrics(path: Path, accuracy: float, parameters: int, latency: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "test": {
                    "accuracy": accuracy,
                    "macro_f1": accuracy - 0.01,
                    "ece": 0.05,
                    "loss": 0.4,
                },
                "model": {"parameters": parameters, "size_mb": parameters / 250_000},
                "cpu": {"latency_ms": latency, "examples_per_s": 1000 / latency},
                "train": {"seconds": 10.0},
            }
        )
    )


def four_models(root: Path) -> None:
    metrics(root / "ft/bert.json", 0.88, 20_000_000, 20.0)
    metrics(root / "ft/tinybert.json", 0.84, 5_000_000, 5.0)
    metrics(root / "teacher.json", 0.93, 40_000_000, 40.0)
    metrics(root / "st/simple_cnn-dist.json", 0.92, 4_000_000, 2.0)


def test_rows_ratios_summary_and_source_figures(tmp_path: Path) -> None:
    four_models(tmp_path)
    entries = finetune_entries(
        ["bert", "tinybert"], "ce", "amazon", tmp_path / "ft", source="amazon_polarity"
    )
    entries += distill_entries(
        ["simple_cnn"],
        ["dist", "kd"],
        "agnews",
        tmp_path / "teacher.json",
        tmp_path / "st",
        source="ag_news",
    )
    board = leaderboard(entries)
    assert board["name"].tolist() == [
        "finetune/bert",
        "finetune/tinybert",
        "teacher",
        "student/simple_cnn-dist",
    ]
    student = board.set_index("name").loc["student/simple_cnn-dist"]
    assert (student["compression"], student["speedup"]) == (10.0, 20.0)
    assert board.set_index("name").loc["finetune/tinybert", "compression"] == 4.0
    assert summary(board)["student"]["simple_cnn-dist"]["accuracy"] == 0.92
    assert summary(board)["teacher"]["accuracy"] == 0.93
    text = render(board, {"amazon": True, "agnews": False})
    assert "0.9225 (source)" in text and "0.8800 (source)" in text  # SEEDS.md figures
    assert "0.9326 (source)" in text
    assert "sample** data (amazon)" in text


def test_no_source_figure_beside_other_data(tmp_path: Path) -> None:
    """A user's data (no source), or the other source's data, never gets the source's figure."""
    four_models(tmp_path)
    entries = finetune_entries(["bert"], "ce", "sst2", tmp_path / "ft")  # not a source's data
    # AG News through the fine-tuning branch: Amazon's BERT figure does not belong beside it.
    entries += finetune_entries(["tinybert"], "focal", "agnews", tmp_path / "ft", source="ag_news")
    entries += distill_entries(
        ["simple_cnn"], ["dist"], "emotion", tmp_path / "teacher.json", tmp_path / "st"
    )
    board = leaderboard(entries)
    assert board["source_accuracy"].isna().all()
    assert "(source)" not in render(board, {})


def download(**overrides: Any) -> DownloadConfig:
    """The quick profile's Amazon download params, with `overrides` on top."""
    raw = {
        "format": "fasttext",
        "classes": AMAZON,
        "source": "sample",
        "sample": {"train_rows": 10, "test_rows": 10},
        "hub": {"path": "fancyzhx/amazon_polarity", "revision": "main"},
        "files": {"train": "../shared/data/amazon_polarity_ft/train.sample5000.ft.txt.gz"},
    }
    return DownloadConfig.model_validate(raw | overrides)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "amazon_polarity"),  # the sample imitates the source's data: figure kept (smoke)
        ({"source": "hub"}, "amazon_polarity"),
        ({"source": "files"}, "amazon_polarity"),  # ../shared/data or the user's copy of it
        (
            {"source": "hub", "hub": {"path": "Amazon_Polarity", "revision": "main"}},
            "amazon_polarity",
        ),
        ({"source": "hub", "hub": {"path": "stanfordnlp/sst2", "revision": "main"}}, None),
        ({"source": "files", "classes": ["neg", "pos"]}, None),  # a user's own reviews
        ({"classes": ["positive", "negative"]}, None),  # label ids mean other classes
        (
            {
                "source": "files",
                "format": "table",
                "columns": {"text": "text", "label": "label"},
                "sample": None,
            },
            None,
        ),
        ({"format": "agnews_csv", "classes": AG_NEWS}, "ag_news"),
        (
            {
                "format": "agnews_csv",
                "classes": AG_NEWS,
                "source": "hub",
                "hub": {"path": "fancyzhx/ag_news", "revision": "main"},
            },
            "ag_news",
        ),
        (
            {
                "format": "agnews_csv",
                "classes": ["sadness", "joy", "love", "anger"],
                "source": "hub",
                "hub": {"path": "dair-ai/emotion", "revision": "main"},
            },
            None,
        ),
        (  # AG News' classes from a different hub dataset: not the source's data
            {"format": "agnews_csv", "classes": AG_NEWS, "source": "hub"},
            None,
        ),
    ],
)
def test_which_download_params_are_a_sources_data(
    overrides: dict[str, Any], expected: str | None
) -> None:
    assert source_dataset(download(**overrides)) == expected


def quick_params_with(changes: dict[str, Any]) -> Any:
    raw = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[leaf] = copy.deepcopy(value)
    return parse_params(raw)


def test_pipeline_entries_take_the_source_from_each_branchs_dataset(tmp_path: Path) -> None:
    """The evaluate stage's path: params decide, per branch, whether figures appear."""
    four_models(tmp_path)
    sst2 = {
        "format": "table",
        "classes": AMAZON,
        "source": "hub",
        "hub": {"path": "stanfordnlp/sst2", "revision": "main", "text_field": "sentence"},
    }
    params = quick_params_with(
        {
            "download.sst2": sst2,
            "prepare.sst2": yaml.safe_load(PARAMS.read_text())["prepare"]["amazon"],
            "finetune.dataset": "sst2",
            "loss": "ce",
        }
    )
    entries = pipeline_entries(
        params, tmp_path / "ft", tmp_path / "teacher.json", tmp_path / "st", tmp_path / "tl.json"
    )
    assert "finetune/ensemble" not in {e.name for e in entries}  # the VDCNN teaches
    sources = {e.name: e.source for e in entries}
    assert sources["finetune/bert"] is None
    # The quick profile's teacher reads MiniLM features: a stand-in for the source's BERT.
    assert sources["teacher"] is None
    assert sources["student/simple_cnn-dist"] == "ag_news"  # the sample imitates AG News
    board = leaderboard(entries).set_index("name")
    assert board["source_accuracy"].isna()["finetune/bert"]  # 0.88 is Amazon's, not SST-2's
    assert board.loc["student/simple_cnn-dist", "source_accuracy"] == 0.9225


def test_an_ensemble_teacher_is_a_row_and_its_students_are_compressed_from_it(
    tmp_path: Path,
) -> None:
    """`students.teacher: models/finetune`: the ensemble's row comes from the teacher_logits
    metrics (scores and cost, no training seconds of its own); students compare with it."""
    four_models(tmp_path)
    metrics(tmp_path / "tl.json", 0.91, 25_000_000, 25.0)
    logits = json.loads((tmp_path / "tl.json").read_text())
    del logits["train"]  # the teacher_logits stage trains nothing
    (tmp_path / "tl.json").write_text(json.dumps(logits))
    metrics(tmp_path / "st/simple_cnn-mse.json", 0.90, 1_000_000, 0.5)
    params = quick_params_with(
        {"finetune.dataset": "agnews", "students.teacher": "models/finetune"}
    )
    entries = pipeline_entries(
        params, tmp_path / "ft", tmp_path / "teacher.json", tmp_path / "st", tmp_path / "tl.json"
    )
    ensemble = next(e for e in entries if e.name == "finetune/ensemble")
    assert ensemble.metrics_path == tmp_path / "tl.json" and ensemble.task == "agnews"
    board = leaderboard(entries).set_index("name")
    assert board.loc["finetune/ensemble", "accuracy"] == 0.91
    assert board.loc["student/simple_cnn-mse", "compression"] == 25.0
    assert board.loc["student/simple_cnn-mse", "speedup"] == 50.0
    markdown = render(board.reset_index(), {"agnews": False})
    (row,) = [line for line in markdown.splitlines() if line.startswith("| finetune/ensemble")]
    assert "| - |" in row  # no training seconds


def test_the_sources_encoders_get_the_sources_figures_on_the_sources_data() -> None:
    bert = {"source": "hub", "id": "bert-base-uncased", "revision": "main"}
    params = quick_params_with({"pretrained.bert": bert})
    assert source_figure(params, "finetune", "bert", "ce", "amazon") == 0.880
    assert source_figure(params, "teacher", "vdcnn", "ce", "agnews") == 0.9326
    assert source_figure(params, "finetune", "distilbert", "focal", "amazon") is None  # MiniLM
    assert source_figure(params, "finetune", "bert", "ce", "agnews") is None  # other data


def test_fronts_are_per_task_and_the_svg_labels_every_model(tmp_path: Path) -> None:
    four_models(tmp_path)
    metrics(tmp_path / "st/simple_cnn-none.json", 0.90, 4_000_000, 2.5)  # slower and worse
    entries = finetune_entries(["bert", "tinybert"], "ce", "amazon", tmp_path / "ft")
    entries += distill_entries(
        ["simple_cnn"], ["dist", "none"], "agnews", tmp_path / "teacher.json", tmp_path / "st"
    )
    board = leaderboard(entries).set_index("name")
    # Amazon's BERT (0.88, 20 ms) is not beaten by the AG News student (0.92, 2 ms): other data.
    assert board["pareto_latency_ms"].to_dict() == {
        "finetune/bert": True,
        "finetune/tinybert": True,
        "teacher": True,
        "student/simple_cnn-dist": True,
        "student/simple_cnn-none": False,
    }
    # Same parameters as the dist student and lower accuracy: dominated.
    assert not board.loc["student/simple_cnn-none", "pareto_parameters"]
    svg = ET.fromstring(accuracy_svg(board.reset_index()))
    ns = "{http://www.w3.org/2000/svg}"
    labels = [t.text for t in svg.iter(f"{ns}text") if t.get("class") == "label"]
    assert sorted(labels) == sorted(board.index)
    assert len(list(svg.iter(f"{ns}polyline"))) == 2  # one front per task


def test_readme_results_block_is_replaced_in_place() -> None:
    readme = f"intro\n{README_START}\nold table\n{README_END}\noutro\n"
    updated = with_results(readme, "# Leaderboard\n\n| new | table |\n")
    assert updated == f"intro\n{README_START}\n| new | table |\n{README_END}\noutro\n"


def test_multitask_rows_put_each_task_of_the_joint_model_beside_the_task_alone(
    tmp_path: Path,
) -> None:
    params = parse_params(yaml.safe_load(PARAMS.read_text()))
    assert params.multitask is not None
    tasks = list(params.multitask.tasks)  # sentiment, paraphrase, similarity
    joint = {"sentiment/accuracy": 0.81, "paraphrase/accuracy": 0.74, "similarity/pearson": 0.62}
    (tmp_path / "joint.json").write_text(json.dumps({"test": joint | {"score": 0.72}}))
    alone = {"sentiment": 0.80, "paraphrase": 0.76, "similarity": 0.50}
    for task, value in alone.items():
        metric = "pearson" if task == "similarity" else "accuracy"
        (tmp_path / f"{task}.json").write_text(json.dumps({"test": {f"{task}/{metric}": value}}))
    rows = multitask_rows(params, tmp_path)
    assert [r["task"] for r in rows] == tasks
    similarity = rows[2]
    assert (similarity["metric"], similarity["joint"], similarity["single"]) == (
        "pearson",
        0.62,
        0.5,
    )
    assert similarity["difference"] == pytest.approx(0.12)
    table = render_multitask(rows)
    assert "| paraphrase | paraphrase | accuracy | 0.7400 | 0.7600 | -0.0200 |" in table
    assert render_multitask([]) == ""

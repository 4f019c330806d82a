"""The `minbert` profile on the real minBERT files in ../shared/data/minbert: its three tasks
(SST-5, Quora pairs, STS similarity) download and prepare as the multitask study needs."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import REPO, needs_shared_data

from textdistill.config import parse_params
from textdistill.data.prepare import prepare
from textdistill.data.sources import download
from textdistill.profiles import compose

pytestmark = [pytest.mark.slow, needs_shared_data]


@pytest.fixture(scope="module")
def minbert():
    return parse_params(compose("minbert", conf_dir=REPO / "conf"), source="minbert profile")


def prepared(params, name: str, tmp: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp)
    monkeypatch.setenv("DVC_ROOT", str(REPO))  # the files are named relative to the repository
    manifest = download(params.download_config(name), tmp / name)
    return manifest, prepare(tmp / name, params.prepare_config(name))


def test_the_profile_runs_the_three_study_tasks_on_the_quick_pipeline(minbert) -> None:
    assert minbert.profile_name == "minbert"
    datasets = {name: task.dataset for name, task in minbert.multitask_config().tasks.items()}
    assert datasets == {"sentiment": "sst", "paraphrase": "quora", "similarity": "sts"}
    assert minbert.finetune_config().train_config("bert").epochs == 1  # the quick pipeline's


def test_sst_is_five_classes_tested_on_its_dev_file(minbert, tmp_path, monkeypatch) -> None:
    _, data = prepared(minbert, "sst", tmp_path, monkeypatch)
    assert data.task.plain and len(data.task.classes) == 5
    assert len(data.splits["val"]) == 1000
    assert 1090 <= len(data.splits["test"]) <= 1101  # the dev file, less any duplicate rows
    assert set(data.splits["train"]["label"]) == set(range(5))


def test_quora_drops_its_two_broken_lines_and_splits_the_rest(minbert, tmp_path, monkeypatch):
    manifest, data = prepared(minbert, "quora", tmp_path, monkeypatch)
    assert manifest["files"]["train"]["dropped"]["lines"] == [2577, 14222]
    assert data.task.pair and data.task.classes == ("0.0", "1.0")
    sizes = {name: len(frame) for name, frame in data.splits.items()}
    assert (sizes["val"], sizes["test"]) == (2000, 4000)
    assert 20_000 <= sum(sizes.values()) <= 20_212
    assert data.splits["test"]["text_pair"].str.len().min() > 0


def test_sts_is_a_pair_regression_on_0_to_5(minbert, tmp_path, monkeypatch) -> None:
    _, data = prepared(minbert, "sts", tmp_path, monkeypatch)
    assert data.task.pair and data.task.target_range == (0.0, 5.0)
    test = data.splits["test"]
    assert 850 <= len(test) <= 863
    assert test["label"].between(0, 5).all() and test["label"].std() > 1

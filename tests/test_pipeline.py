"""End to end: the data stages under `dvc repro` and `dvc exp run` in a temporary clone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import commit, make_clone, run

pytestmark = pytest.mark.slow
DATA_STAGES = ["prepare@amazon", "prepare@agnews"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path) -> Path:
    return make_clone(tmp_path_factory.mktemp("clone") / "repo", mlflow_template)


def test_data_stages_run_then_are_up_to_date(clone: Path) -> None:
    first = run(["dvc", "repro", *DATA_STAGES], clone)
    assert "Running stage 'prepare@amazon'" in first.stdout
    assert (clone / "data/prepared/amazon/train.parquet").is_file()
    metrics = yaml.safe_load((clone / "metrics/data/amazon.json").read_text())
    assert (
        metrics["rows"]["train"] == 1600
        and metrics["rows"]["val"] == 400
        and metrics["rows"]["test"] == 200
    )
    second = run(["dvc", "repro", *DATA_STAGES], clone)
    assert "Running stage" not in second.stdout
    assert "up to date" in second.stdout


def test_changing_one_datasets_split_reruns_only_its_stages(clone: Path) -> None:
    run(["dvc", "repro", *DATA_STAGES], clone)
    commit(clone, "data")
    done = run(["dvc", "exp", "run", "-S", "prepare.amazon.splits.train=800", *DATA_STAGES], clone)
    assert "Running stage 'prepare@amazon'" in done.stdout
    for stage in ("prepare@agnews", "download@agnews", "download@amazon"):
        assert f"Running stage '{stage}'" not in done.stdout
    metrics = yaml.safe_load((clone / "metrics/data/amazon.json").read_text())
    assert metrics["rows"]["train"] == 800


def test_bad_raw_file_fails_with_its_place_and_keeps_earlier_outputs(clone: Path) -> None:
    run(["dvc", "repro", *DATA_STAGES], clone)
    manifest = (clone / "data/raw/amazon/manifest.json").read_bytes()
    bad = clone / "bad.ft.txt"
    bad.write_text("__label__1 fine\nno label on this line\n__label__2 ok\n")
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["download"]["amazon"] |= {
        "source": "files",
        "files": {"train": str(bad), "test": str(bad)},
    }
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        done = run(["dvc", "repro", "download@amazon"], clone, check=False)
    finally:
        run(["git", "checkout", "params.yaml"], clone)
    assert done.returncode != 0
    assert f"{bad}:2" in done.stderr and "__label__<k> <text>" in done.stderr
    assert "Traceback" not in done.stderr
    assert (clone / "data/raw/amazon/manifest.json").read_bytes() == manifest

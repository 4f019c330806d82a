"""The `real` profile on the real files in ../shared/data: what its data stages make of them.

The files are read in place, through the `files` source, with paths relative to the project
root (as queued experiments see them, through `$DVC_ROOT`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import REPO, needs_shared_data

from textdistill.config import parse_params
from textdistill.data.prepare import prepare
from textdistill.data.sources import download
from textdistill.profiles import compose

pytestmark = [pytest.mark.slow, needs_shared_data]


@pytest.fixture(scope="module")
def real_params():
    return parse_params(compose("real", conf_dir=REPO / "conf"), source="real profile")


@pytest.fixture()
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory that is not the repository (a queued experiment's temp copy)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_ROOT", str(REPO))
    return tmp_path


def test_real_profile_reads_the_real_files_from_the_project_root(real_params, elsewhere) -> None:
    assert real_params.profile_name == "real"
    manifest = download(real_params.download_config("agnews"), elsewhere / "raw")
    entry = manifest["files"]["train"]
    assert entry["rows"] == 7600 and entry["referenced"]
    # The manifest names the file as params do, so DVC hashes it the same in every clone.
    assert entry["path"] == "../shared/data/ag_news/test.csv.gz"
    saved = json.loads((elsewhere / "raw" / "manifest.json").read_text())
    assert saved["files"]["train"]["path"] == entry["path"]


def test_agnews_is_split_from_the_complete_test_file_stratified(real_params, elsewhere) -> None:
    download(real_params.download_config("agnews"), elsewhere / "raw")
    data = prepare(elsewhere / "raw", real_params.prepare_config("agnews"))
    sizes = {name: len(frame) for name, frame in data.splits.items()}
    assert sizes == {"train": 4600, "val": 1000, "test": 2000}
    shares = data.splits["train"]["label"].value_counts(normalize=True)
    assert ((shares - 0.25).abs() < 0.005).all()
    texts = [set(frame["text"]) for frame in data.splits.values()]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])


def test_amazon_tests_on_every_line_of_the_test_prefix(real_params, elsewhere) -> None:
    download(real_params.download_config("amazon"), elsewhere / "raw")
    data = prepare(elsewhere / "raw", real_params.prepare_config("amazon"))
    sizes = {name: len(frame) for name, frame in data.splits.items()}
    assert sizes == {"train": 1600, "val": 400, "test": 6459}

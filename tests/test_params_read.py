"""dvc.yaml lists every params key each stage reads, so a changed param reruns its stages.

The session's tiny pipeline runs with `TEXTDISTILL_PARAMS_TRACE` set: each stage records the
dotted keys it reads through the typed params (`config.Section`). A read key is covered when
dvc.lock lists it for that stage, or a section above it (`teacher` covers `teacher.train.lr`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import PARAMS_READ

pytestmark = pytest.mark.slow


def listed_params(repo: Path) -> dict[str, set[str]]:
    """Each stage's params as DVC resolved them (foreach/matrix expanded), from dvc.lock."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {
        name: set((stage.get("params") or {}).get("params.yaml", {}))
        for name, stage in lock.items()
    }


def uncovered(read: set[str], listed: set[str]) -> list[str]:
    return sorted(
        key for key in read if not any(key == s or key.startswith(f"{s}.") for s in listed)
    )


def test_uncovered_finds_a_key_that_no_listed_section_holds() -> None:
    listed = {"teacher", "seed", "download.agnews.source"}
    read = {"teacher.train.lr", "seed", "download.agnews.source", "download.agnews.classes"}
    assert uncovered(read, listed) == ["download.agnews.classes"]
    assert uncovered({"seeds"}, {"seed"}) == ["seeds"]  # a prefix of the name is not a section


def test_every_stage_lists_every_param_it_reads(pipeline: tuple[Path, str]) -> None:
    repo, _ = pipeline
    listed = listed_params(repo)
    traced = {path.stem: path for path in (repo / PARAMS_READ).glob("*.txt")}
    assert len(traced) == len(listed), f"stages without a trace: {set(listed) ^ set(traced)}"
    missing = {}
    for stage, keys in listed.items():
        read = set(traced[stage.replace("@", "-")].read_text().split())
        assert read, f"{stage} recorded no params read"
        if gaps := uncovered(read, keys):
            missing[stage] = gaps
    assert not missing, f"dvc.yaml params miss keys the stages read: {missing}"

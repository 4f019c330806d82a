"""`io.stage_outputs`: a stage's outputs appear all together or not at all."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from textdistill.errors import TextdistillError
from textdistill.io import STAGING, stage_outputs, write_json, write_text


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def outputs(root: Path) -> dict[str, Path]:
    return {"data": root / "data" / "ds", "metrics": root / "metrics" / "ds.json"}


def publish(targets: dict[str, Path], version: str) -> None:
    with stage_outputs("prepare@ds", targets) as staged:
        staged["data"].mkdir()
        write_text(staged["data"] / "train.txt", version)
        write_json(staged["metrics"], {"version": version})


def versions(targets: dict[str, Path]) -> tuple[str, str]:
    data = (targets["data"] / "train.txt").read_text()
    return data, json.loads(targets["metrics"].read_text())["version"]


def test_outputs_appear_together_and_replace_the_old_ones(in_tmp: Path) -> None:
    targets = outputs(in_tmp)
    publish(targets, "old")
    publish(targets, "new")
    assert versions(targets) == ("new", "new")
    assert not list(targets["data"].parent.glob(".*")), "no temporaries left beside outputs"


def test_a_failure_after_some_outputs_are_written_keeps_every_old_output(in_tmp: Path) -> None:
    targets = outputs(in_tmp)
    publish(targets, "old")
    with pytest.raises(OSError), stage_outputs("prepare@ds", targets) as staged:
        staged["data"].mkdir()
        write_text(staged["data"] / "train.txt", "new")
        raise OSError("disk full while writing the metrics")
    assert versions(targets) == ("old", "old")
    assert not list(targets["data"].parent.glob(".ds*"))


def test_an_output_the_stage_forgot_fails_the_stage_and_publishes_nothing(in_tmp: Path) -> None:
    targets = outputs(in_tmp)
    publish(targets, "old")
    with (
        pytest.raises(RuntimeError, match="did not write"),
        stage_outputs("prepare@ds", targets) as staged,
    ):
        staged["data"].mkdir()
    assert versions(targets) == ("old", "old")


def _killed_while_writing(root: str) -> None:
    os.chdir(root)
    with stage_outputs("prepare@ds", outputs(Path(root))) as staged:
        staged["data"].mkdir()
        write_text(staged["data"] / "train.txt", "half")
        time.sleep(60)  # killed here


def test_a_kill_mid_stage_keeps_old_outputs_and_the_next_run_cleans_up(in_tmp: Path) -> None:
    targets = outputs(in_tmp)
    publish(targets, "old")
    process = multiprocessing.get_context("spawn").Process(
        target=_killed_while_writing, args=(str(in_tmp),)
    )
    process.start()
    deadline = time.time() + 30
    while not list(targets["data"].parent.glob(".ds.staged-*/train.txt")):
        assert time.time() < deadline, "the stage never started writing"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    assert versions(targets) == ("old", "old")
    assert list(targets["data"].parent.glob(".ds.staged-*")), "the kill left its temporary"
    publish(targets, "new")  # the lock died with its holder; the stale temporary goes
    assert versions(targets) == ("new", "new")
    assert not list(targets["data"].parent.glob(".ds.staged-*"))


def test_a_swap_cut_short_is_rolled_forward_by_the_next_run(in_tmp: Path) -> None:
    targets = outputs(in_tmp)
    publish(targets, "old")
    # What a kill between the two renames of a swap leaves: the journal, the data swapped in
    # (old data renamed aside), the metrics still staged.
    staged_metrics = targets["metrics"].with_name(".ds.json.staged-x")
    write_json(staged_metrics, {"version": "new"})
    staged_data = targets["data"].with_name(".ds.staged-x")
    os.replace(targets["data"], targets["data"].with_name(".ds.old"))
    staged_data.mkdir()
    write_text(staged_data / "train.txt", "new")
    os.replace(staged_data, targets["data"])
    journal = STAGING / "prepare-ds.journal.json"
    write_json(
        journal,
        [[str(staged_data), str(targets["data"])], [str(staged_metrics), str(targets["metrics"])]],
    )
    assert versions(targets) == ("new", "old")  # mixed, until the next run of the stage
    with stage_outputs("prepare@ds", {}):
        pass
    assert versions(targets) == ("new", "new")
    assert not journal.exists() and not targets["data"].with_name(".ds.old").exists()


def test_a_second_concurrent_run_of_the_stage_is_refused(in_tmp: Path) -> None:
    targets = outputs(in_tmp)
    with stage_outputs("prepare@ds", targets) as staged:
        with (
            pytest.raises(TextdistillError, match="another run of stage prepare@ds"),
            stage_outputs("prepare@ds", targets),
        ):
            pass
        staged["data"].mkdir()
        write_text(staged["data"] / "train.txt", "first")
        write_json(staged["metrics"], {"version": "first"})
    assert versions(targets) == ("first", "first")


def _write_many(root: str, writer: int, rounds: int) -> None:
    from textdistill.io import atomic_dir

    for round_ in range(rounds):
        with atomic_dir(Path(root) / "raw") as tmp:
            (tmp / "writer").write_text(str(writer))
            (tmp / "round").write_text(f"{writer}-{round_}")


def test_two_concurrent_writers_of_one_directory_never_fail_or_mix(in_tmp: Path) -> None:
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_many, args=(str(in_tmp), w, 40)) for w in (1, 2)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    assert [process.exitcode for process in writers] == [0, 0]
    writer = (in_tmp / "raw" / "writer").read_text()
    assert (in_tmp / "raw" / "round").read_text().startswith(f"{writer}-")  # one writer's whole
    assert not [p for p in in_tmp.iterdir() if p.name.startswith(".raw")]

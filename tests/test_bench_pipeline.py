"""benchmarks/run_all.py's per-stage timing of a `dvc repro`, from the lines DVC prints."""

from __future__ import annotations

import subprocess

from helpers import REPO, benchmark

run_all = benchmark("run_all")


def test_each_stage_runs_until_the_next_one_starts() -> None:
    events = [
        (0.0, ".venv/bin/dvc repro\n"),
        (0.5, "Stage 'download@amazon' didn't change, skipping\n"),
        (1.0, "Running stage 'download@paraphrase':\n"),
        (1.2, "> PYTHONPATH=src python stages/download.py paraphrase\n"),
        (3.0, "Running stage 'student@simpler_cnn-kd':\n"),
        (9.0, "Updating lock file 'dvc.lock'\n"),
        (9.5, "Running stage 'evaluate':\n"),
    ]
    durations = run_all.stage_durations(events, end=12.0)
    # a skipped stage costs nothing of its own; the last stage runs to the end of the repro
    assert durations == {"download@paraphrase": 2.0, "student@simpler_cnn-kd": 6.5, "evaluate": 2.5}


def test_a_line_that_only_mentions_a_stage_starts_none() -> None:
    events = [(0.0, "Running stage 'a':\n"), (1.0, "log: Running stage 'b': in a message\n")]
    assert run_all.stage_durations(events, end=4.0) == {"a": 4.0}


def test_stage_table_lists_the_slowest_first_with_start_up() -> None:
    table = run_all.stage_table(
        {
            "repro_s": 10.0,
            "stage_s": {"prepare@agnews": 2.0, "student@simpler_cnn-kd": 8.0},
            "stage_startup_s": {"student": 3.2},
        }
    )
    rows = [line for line in table.splitlines() if line.startswith("| ") and "seconds" not in line]
    assert rows == [
        "| student@simpler_cnn-kd | 8.0 | 80% | 3.2 |",
        "| prepare@agnews | 2.0 | 20% | - |",
    ]


def test_stage_table_adds_the_fixed_costs_when_measured() -> None:
    pipeline = {"repro_s": 4.0, "stage_s": {"evaluate": 4.0}, "fixed_costs_s": {"torch": 1.5}}
    assert "| torch | 1.50 |" in run_all.stage_table(pipeline).splitlines()


def test_stage_table_says_how_far_the_committed_metrics_moved() -> None:
    pipeline = {
        "repro_s": 4.0,
        "stage_s": {"evaluate": 4.0},
        "against_committed": {"worst_points": 0.25, "models": []},
    }
    assert "worst 0.25 points" in run_all.stage_table(pipeline)
    assert "committed" not in run_all.stage_table(pipeline | {"against_committed": None})


def test_fixed_costs_time_each_probe_and_track_into_a_throwaway_database(monkeypatch) -> None:
    probes = {
        "python": "pass",
        run_all.MLFLOW_PROBE: run_all.FIXED_COST_PROBES[run_all.MLFLOW_PROBE],
    }
    monkeypatch.setattr(run_all, "FIXED_COST_PROBES", probes)
    before = {path: path.stat().st_mtime_ns for path in REPO.glob("mlflow.db*")}
    costs = run_all.fixed_costs(REPO, repeats=1)
    assert list(costs) == list(probes)
    # importing mlflow and opening its store costs more than starting the interpreter
    assert 0 < costs["python"] < costs[run_all.MLFLOW_PROBE]
    after = {path: path.stat().st_mtime_ns for path in REPO.glob("mlflow.db*")}
    assert after == before  # the repository's own database untouched


def test_the_machine_names_its_cpu_and_the_commit_measured() -> None:
    measured = run_all.machine()
    assert measured["cpu"] and measured["cpus"] >= 1
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    assert measured["commit"].split(" ")[0] == head


def test_one_teacher_pass_row_per_teacher_timed() -> None:
    passes = {
        teacher: {
            "fp32": {"seconds": 10.0, "texts_per_s": 100.0},
            "bf16": {"seconds": 4.0, "texts_per_s": 250.0},
            "bf16_over_fp32_speed": speed,
            "bf16_max_abs_logit_difference": 0.05,
            "bf16_same_class": 0.9975,
        }
        for teacher, speed in (("models/teacher", 2.5), ("models/finetune/bert", 0.4))
    }
    rows = run_all.teacher_pass_rows({"teacher_texts": 9400, "teacher_pass": passes})
    assert [(name.split("'")[0], ratio) for name, ratio, _ in rows] == [
        ("models/teacher", "2.50x"),
        ("models/finetune/bert", "0.40x"),
    ]
    assert rows[1][2] == "9400 texts: fp32 10.0 s, bf16 4.0 s; same class 99.75%"


def test_a_tree_without_git_records_the_commit_it_is_given() -> None:
    assert run_all.machine(commit="abc1234")["commit"] == "abc1234"


def test_the_gpu_table_has_a_row_per_batch_size_with_its_fraction_of_peak() -> None:
    def report(tokens_per_s: float, peak: float | None) -> dict:
        summary = {
            "speedup_vs_trainer": 1.5,
            "speedup_vs_trainer_grouped": 1.1,
            "bf16_over_fp32_speed": 2.0,
            "gpu_fraction_of_peak_bf16": peak,
        }
        return {"runs": {"engine": {"tokens_per_s": tokens_per_s}}, "summary": summary}

    machine = {"gpu": "NVIDIA H200", "cpu": "x", "cpus": 16, "torch": "2.11.0"}
    results = {
        "machine": machine,
        "finetune": {"batch_32": report(2e5, 0.2), "batch_128": report(5e5, None)},
    }
    rows = [line for line in run_all.gpu_table(results).splitlines() if "fine-tune" in line]
    assert rows[0].startswith(
        "| bert-base-shaped fine-tune, batch 32: engine bf16 tokens/s | 200000 |"
    )
    assert "20.0% of the bf16 peak; 1.50x the HF Trainer" in rows[0]
    assert "? of the bf16 peak" in rows[1]  # a GPU whose peak is not in the table
    assert run_all.gpu_slug("NVIDIA H200") == "nvidia_h200"


def test_a_cpu_machine_is_not_named_a_gpu_one() -> None:
    """Every `machine` has a `gpu` key ("none" on a CPU): its presence says nothing."""
    assert run_all.processor({"cpu": "Intel Xeon", "gpu": "none"}) == "CPU"
    assert run_all.processor({"cpu": "AMD EPYC"}) == "CPU"
    assert run_all.processor({"cpu": "Intel Xeon", "gpu": "NVIDIA H200"}) == "GPU"

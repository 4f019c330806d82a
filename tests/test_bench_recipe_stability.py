"""benchmarks/recipe_stability.py: params overrides and the summary over seeds."""

from __future__ import annotations

import pytest
from helpers import benchmark

recipe_stability = benchmark("recipe_stability")


def test_overrides_set_dotted_keys_as_yaml_1_2_values_on_a_copy() -> None:
    params = {"students": {"train": {"lr": 0.001, "epochs": 6}}}
    changed = recipe_stability.with_overrides(
        params, ["students.train.schedule=linear", "students.train.lr=5e-4", "students.seed=3"]
    )
    assert changed["students"]["train"] == {"lr": 5e-4, "epochs": 6, "schedule": "linear"}
    assert changed["students"]["seed"] == 3
    assert params == {"students": {"train": {"lr": 0.001, "epochs": 6}}}  # untouched


def test_an_override_without_a_value_is_refused() -> None:
    with pytest.raises(SystemExit, match="key=value"):
        recipe_stability.with_overrides({}, ["students.train.lr"])


def test_summary_is_over_seeds_in_points() -> None:
    runs = [
        {"threads_2": {"test_accuracy": 0.80}, "rounding_points": -0.5},
        {"threads_2": {"test_accuracy": 0.78}, "rounding_points": 1.5},
    ]
    summary = recipe_stability.summary(runs)
    assert summary == {
        "mean_points": 79.0,
        "seed_sd_points": pytest.approx(1.41, abs=0.01),
        "rounding_mean_abs_points": 1.0,
        "rounding_max_abs_points": 1.5,
    }


def test_one_thread_count_has_no_rounding_figure() -> None:
    runs = [{"threads_1": {"test_accuracy": 0.80}}, {"threads_1": {"test_accuracy": 0.82}}]
    summary = recipe_stability.summary(runs, threads=[1])
    assert summary == {"mean_points": 81.0, "seed_sd_points": pytest.approx(1.41, abs=0.01)}
    assert "| - |" in recipe_stability.table(
        {"r": [{"arch": "a", "kd": "k", "runs": runs} | summary]}
    )


def test_against_pairs_each_recipe_student_and_seed_with_the_other_workspace() -> None:
    def result(seed_accuracy: dict[int, float]) -> dict:
        runs = [
            {"seed": seed, "threads_1": {"test_accuracy": acc, "best_epoch": seed}}
            for seed, acc in seed_accuracy.items()
        ]
        return {"arch": "simple_cnn", "kd": "dist", "runs": runs}

    ours = {"asis": [result({42: 0.77, 0: 0.80})]}
    # another workspace (e.g. the kernels capped): seed 1 has no partner here, and is ignored
    theirs = {"threads": [1], "recipes": {"asis": [result({42: 0.83, 0: 0.795, 1: 0.5})]}}
    recipe_stability.against(ours, [1], theirs)
    found = ours["asis"][0]
    assert [run["against_points"] for run in found["runs"]] == [-6.0, 0.5]
    assert [run["against_best_epoch"] for run in found["runs"]] == [42, 0]
    assert (found["against_mean_abs_points"], found["against_max_abs_points"]) == (3.25, 6.0)

"""`textdistill report`: experiments read back, grouped by study, averaged and paired by seed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from textdistill.profiles import compose
from textdistill.report import (
    Paired,
    _multitask_table,
    accuracy_svg,
    model_results,
    paired_differences,
    parse_exp_show,
    render,
    source_figures,
    studies,
)

REPO = Path(__file__).resolve().parents[1]
PARAMS = {
    "profile_name": "real",
    "seed": 0,
    "loss": "ce",
    "finetune": {"dataset": "amazon", "models": {"bert": {}}},
    "teacher": {"dataset": "agnews"},
    "students": {"archs": ["simpler_cnn"], "kd_modes": ["none", "kd"], "seed": None},
}


def metrics(accuracy: float, agreement: float | None = None) -> dict[str, Any]:
    data = {
        "test": {"accuracy": accuracy, "macro_f1": accuracy - 0.01},
        "model": {"parameters": 1000},
        "cpu": {"latency_ms": 2.0},
        "machine": {"cpu": "Test CPU", "cpus": 2, "gpu": "none", "torch": "2.13.0"},
    }
    if agreement is not None:  # students: the epoch chosen on validation, of 10 run
        data |= {"best_epoch": round(agreement * 10), "train": {"epochs_run": 10}}
    if agreement is not None:
        data["teacher_agreement"] = agreement
    return data


def experiment(
    name: str, seed: int, plain: float, distilled: float, /, **params: Any
) -> dict[str, Any]:
    files = {
        "metrics/finetune/bert.json": metrics(0.9),
        "metrics/teacher.json": metrics(0.88),
        "metrics/students/simpler_cnn-none.json": metrics(plain, 0.8),
        "metrics/students/simpler_cnn-kd.json": metrics(distilled, 0.85),
    }
    data = {
        "params": {"params.yaml": {"data": PARAMS | {"seed": seed} | params}},
        "metrics": {path: {"data": value} for path, value in files.items()},
    }
    return {"name": name, "revs": [{"rev": f"{name:0<40}", "name": name, "data": data}]}


def exp_show(*experiments: dict[str, Any]) -> list[dict[str, Any]]:
    """The shape of `dvc exp show --json`: baselines, each with its experiments."""
    workspace = {"rev": "workspace", "data": {"metrics": {}}, "experiments": None}
    return [workspace, {"rev": "b" * 40, "data": {}, "experiments": list(experiments)}]


def test_experiments_are_read_and_grouped_by_study_over_seeds() -> None:
    runs = list(
        parse_exp_show(
            exp_show(
                experiment("s0", 0, 0.80, 0.82),
                experiment("s1", 1, 0.81, 0.84),
                experiment("focal", 0, 0.70, 0.70, loss="focal"),
                experiment("quick", 0, 0.5, 0.5, profile_name="quick"),
            )
        )
    )
    assert [run.name for run in runs] == ["s0", "s1", "focal", "quick"]
    groups = studies(runs, "real")
    assert [[run.name for run in group] for group in groups] == [["s0", "s1"], ["focal"]]
    assert runs[0].baseline == "b" * 40


def test_a_queued_running_or_failed_experiment_is_left_out() -> None:
    # Queued and running experiments carry their baseline's metrics: only the state tells.
    unfinished = []
    for state in ("queued", "running", "failed"):
        unfinished.append(experiment(state, 0, 0.5, 0.5))
        unfinished[-1]["executor"] = {"state": state, "name": "dvc-task"}
    errored = experiment("f", 2, 0.1, 0.1)
    errored["revs"][0]["error"] = {"msg": "failed"}
    done = experiment("done", 1, 0.8, 0.8)
    runs = list(parse_exp_show(exp_show(*unfinished, errored, done)))
    assert [run.name for run in runs] == ["done"]


def test_a_seed_run_twice_counts_once_the_newest_first() -> None:
    runs = list(
        parse_exp_show(exp_show(experiment("new", 0, 0.8, 0.8), experiment("old", 0, 0.1, 0.1)))
    )
    (plain, *_) = (r for r in model_results(runs) if r.name == "student/simpler_cnn-none")
    assert plain.seeds == (0,) and plain.accuracy == (0.8,)


def test_an_ensemble_teacher_is_reported_from_its_teacher_logits_metrics() -> None:
    """`students.teacher: models/finetune`: the ensemble's row, once per fine-tune seed."""
    students = PARAMS["students"] | {"teacher": "models/finetune"}
    finetune = {"dataset": "agnews", "models": {"bert": {}, "tinybert": {}}}
    runs = []
    for seed, accuracy in ((0, 0.91), (1, 0.92)):
        data = experiment(f"s{seed}", seed, 0.8, 0.8, students=students, finetune=finetune)
        rev = data["revs"][0]["data"]["metrics"]
        rev["metrics/teacher_logits.json"] = {"data": metrics(accuracy)}
        rev["metrics/finetune/bert.json"] = {"data": metrics(0.9)}
        runs.append(data)
    results = {r.name: r for r in model_results(list(parse_exp_show(exp_show(*runs))))}
    ensemble = results["finetune/ensemble"]
    assert ensemble.seeds == (0, 1) and ensemble.accuracy == (0.91, 0.92)
    assert ensemble.dataset == "agnews" and ensemble.branch == "finetune"


def test_students_seed_overrides_the_top_level_seed() -> None:
    students = PARAMS["students"] | {"seed": 7}
    (run,) = parse_exp_show(exp_show(experiment("s", 0, 0.8, 0.8, students=students)))
    assert run.seed == 7


def test_means_and_paired_differences_by_hand() -> None:
    runs = list(
        parse_exp_show(
            exp_show(
                experiment("s0", 0, 0.80, 0.82),
                experiment("s1", 1, 0.81, 0.84),
                experiment("s2", 2, 0.79, 0.80),
            )
        )
    )
    results = {result.name: result for result in model_results(runs)}
    assert list(results) == [
        "finetune/bert",
        "teacher",
        "student/simpler_cnn-none",
        "student/simpler_cnn-kd",
    ]
    assert results["student/simpler_cnn-kd"].accuracy == (0.82, 0.84, 0.80)
    assert results["student/simpler_cnn-kd"].teacher_agreement == pytest.approx(0.85)
    (pair,) = paired_differences(list(results.values()))
    assert pair.seeds == (0, 1, 2)
    assert pair.differences == pytest.approx((0.02, 0.03, 0.01))
    # mean 0.02, sd 0.01, t(0.975, 2) = 4.302653: half width 4.302653 * 0.01 / sqrt(3)
    low, high = pair.interval()
    half = 4.302653 * 0.01 / math.sqrt(3)
    assert (low, high) == pytest.approx((0.02 - half, 0.02 + half), abs=1e-6)


def test_one_seed_gives_no_interval() -> None:
    assert Paired("a", "b", (0,), (0.1,)).interval() is None


def test_render_names_the_commands_the_machine_and_each_verdict() -> None:
    runs = list(
        parse_exp_show(exp_show(experiment("s0", 0, 0.80, 0.82), experiment("s1", 1, 0.81, 0.84)))
    )
    results = model_results(runs)
    text = render(
        "real", runs, results, paired_differences(results), {"teacher": 0.9326}, ["c.svg"]
    )
    assert "dvc exp run --queue -S profile=real -S seed=0,1" in text
    assert "Test CPU (2 CPUs; torch 2.13.0)" in text
    assert "| student/simpler_cnn-kd | 0.8300 +- 0.0141 |" not in text  # data column comes first
    assert "| student/simpler_cnn-kd | agnews | 2 | 0.8300 +- 0.0141 |" in text
    assert (
        "| teacher | agnews | 2 | 0.8800 +- 0.0000 | 0.8700 | 1,000 | 2.00 | - | - | 0.9326 |"
        in text
    )
    assert "| student/simpler_cnn-kd | student/simpler_cnn-none | 0, 1 | +2.50 |" in text
    assert "| 0.850 | 8, 8 / 10 |" in text  # the epoch chosen on validation, per seed, of 10
    assert "![accuracy against c.svg](c.svg)" in text


def test_the_machine_names_the_kernels_its_figures_were_computed_with() -> None:
    # Float rounding follows the kernels' instruction set as much as the CPU: a run capped to
    # AVX2 on an AVX-512 CPU must not read as that CPU's native run.
    run = experiment("s0", 0, 0.80, 0.82)
    capped = "AVX2 (ATEN_CPU_CAPABILITY=avx2)"
    for metrics_file in run["revs"][0]["data"]["metrics"].values():
        metrics_file["data"]["machine"]["kernels"] = capped
    runs = list(parse_exp_show(exp_show(run)))
    results = model_results(runs)
    text = render("real", runs, results, paired_differences(results), {}, [])
    assert f"Test CPU (2 CPUs; kernels {capped}; torch 2.13.0)" in text


AGNEWS_FILES = {
    "format": "agnews_csv",
    "classes": ["World", "Sports", "Business", "Sci/Tech"],
    "source": "files",
    "files": {"train": "../shared/data/ag_news/test.csv.gz"},
}
EMOTIONS = {
    "format": "table",
    "classes": ["joy", "anger", "fear", "love"],
    "source": "files",
    "files": {"train": "emotions.csv"},
    "columns": {"text": "text", "label": "label"},
}


def three_seeds(**params: Any) -> list:
    return list(
        parse_exp_show(exp_show(*(experiment(f"s{s}", s, 0.8, 0.8, **params) for s in range(3))))
    )


def test_source_figures_only_beside_the_sources_own_model_and_data() -> None:
    real = compose("real", conf_dir=REPO / "conf")
    real.pop("seed")  # each run's own
    runs = three_seeds(**real)
    figures = source_figures(model_results(runs), runs[0].params)
    # MiniLM stands in for BERT: its fine-tune and teacher get none; students are the source's.
    assert figures == {"student/simpler_cnn-none": 0.9092}
    # The same model names on a user's dataset: no source figure at all.
    emotions = real | {"download": real["download"] | {"agnews": EMOTIONS}}
    runs = three_seeds(**emotions)
    assert source_figures(model_results(runs), runs[0].params) == {}


def test_the_chart_labels_every_model() -> None:
    results = model_results(three_seeds())
    for cost in ("latency_ms", "parameters"):
        svg = ElementTree.fromstring(accuracy_svg(results, "real", cost))
        texts = {element.text for element in svg.iter("{http://www.w3.org/2000/svg}text")}
        assert {result.name for result in results} <= texts


def test_each_variant_study_is_paired_with_the_main_one_by_seed() -> None:
    from textdistill.report import _ablation_tables, ablations, queue_command

    pca = {"model": {"simpler_cnn": {"embedding_init": "teacher_pca"}}}
    main = [
        experiment(f"m{seed}", seed, 0.80 + d, 0.85 + d, students=PARAMS["students"] | pca)
        for seed, d in ((0, 0.0), (1, 0.01), (2, 0.02))
    ]
    frozen = {"model": {"simpler_cnn": {"freeze_embedding": True}}}
    random = [
        experiment(f"r{seed}", seed, 0.70, 0.78, students=PARAMS["students"] | frozen)
        for seed in (0, 1)
    ]
    runs = list(parse_exp_show(exp_show(*main, *random)))
    groups = studies(runs, "real")
    assert [len(g) for g in groups] == [3, 2]
    (found,) = ablations(groups[0], groups[1:], lambda study: queue_command("real", study, ["x=1"]))
    assert found.changes == (  # as `-S` writes them
        "students.model.simpler_cnn.embedding_init: teacher_pca -> (unset)",
        "students.model.simpler_cnn.freeze_embedding: (unset) -> true",
    )
    by_pair = {(p.model, p.baseline): p for p in found.pairs}
    same = by_pair[("student/simpler_cnn-none", "student/simpler_cnn-none")]
    assert same.seeds == (0, 1) and same.differences == pytest.approx((0.10, 0.11))
    # main's best simpler_cnn (kd, 0.85 + d) against the variant's plain one (0.70)
    best = by_pair[("student/simpler_cnn-kd", "student/simpler_cnn-none")]
    assert best.differences == pytest.approx((0.15, 0.16))
    table = "\n".join(_ablation_tables([found]))
    assert "`students.model.simpler_cnn.embedding_init: teacher_pca -> (unset)`" in table
    # the variant's own command, with its seeds (0, 1), not the main study's (0, 1, 2)
    assert f"```\n{queue_command('real', groups[1], ['x=1'])}\n```" in table
    assert queue_command("real", groups[1], ["x=1"]).endswith(" -S 'x=1' -S seed=0,1")
    assert "| student/simpler_cnn-kd | student/simpler_cnn-none | 0, 1 | +15.50 |" in table
    best_line = next(line for line in table.splitlines() if "| +15.50 |" in line)
    assert best_line.endswith("| main better |")
    # the variant's own distilled student against its plain one (0.78 - 0.70)
    assert "Within the variant, distilled minus plain:" in table
    assert "| student/simpler_cnn-kd | student/simpler_cnn-none | 0, 1 | +8.00 |" in table
    # and its models' own accuracies, which no difference shows
    assert "| student/simpler_cnn-kd | agnews | 0, 1 | 0.7800 +- 0.0000 | 0.850 |" in table


def test_the_main_study_is_the_one_closest_to_the_configured_profile() -> None:
    from textdistill.report import main_study

    pca = {"model": {"simpler_cnn": {"embedding_init": "teacher_pca"}}}
    configured = PARAMS | {"students": PARAMS["students"] | pca}
    runs = list(
        parse_exp_show(
            exp_show(
                experiment("r0", 0, 0.70, 0.78),  # a variant (random embeddings), more seeds
                experiment("r1", 1, 0.70, 0.78),
                experiment("r2", 2, 0.70, 0.78),
                experiment("m0", 0, 0.80, 0.85, students=configured["students"]),
                experiment("m1", 1, 0.80, 0.85, students=configured["students"]),
            )
        )
    )
    main, variants = main_study(studies(runs, "real"), configured)
    assert [run.name for run in main] == ["m0", "m1"]
    assert [[run.name for run in v] for v in variants] == [["r0", "r1", "r2"]]
    largest, _ = main_study(studies(runs, "real"), None)
    assert len(largest) == 3
    # a study of another commit (other code) is no variant of this one
    old = [dict(r.__dict__) | {"baseline": "c" * 40} for r in runs[:3]]
    from textdistill.report import Run

    mixed = [Run(**fields) for fields in old] + runs[3:]
    _, variants = main_study(studies(mixed, "real"), configured)
    assert variants == []
    # the same params rerun at the main study's commit: those runs are its variant, the old
    # commit's are not (one seed from each commit, so the filter, not the newest, decides)
    rerun = [mixed[0], mixed[1], runs[2]] + runs[3:]
    _, variants = main_study(studies(rerun, "real"), configured)
    assert [[(run.name, run.baseline) for run in v] for v in variants] == [
        [("r2", runs[2].baseline)]
    ]


def test_the_reproduce_command_holds_the_studys_overrides_and_its_seed_key() -> None:
    from textdistill.report import hydra_overrides

    configured = PARAMS | {
        "finetune": {
            "dataset": "amazon",
            "models": {"bert": {}, "tiny": {"lr": 1, "layers": {"keep": [0, 5]}}},
        },
        "students": PARAMS["students"] | {"archs": ["simpler_cnn", "bilstm"], "teacher": None},
    }
    study = PARAMS | {"students": PARAMS["students"] | {"seed": 3, "teacher": None}}
    # the removed model goes whole: `~finetune.models.tiny.lr` would leave `tiny: {}`, a stage
    assert hydra_overrides(study, configured) == [
        "students.archs=[simpler_cnn]",
        "~finetune.models.tiny",
    ]
    # a subtree removed from a model that stays: only that subtree goes
    partly = study | {"finetune": {"dataset": "amazon", "models": {"bert": {}, "tiny": {"lr": 1}}}}
    assert hydra_overrides(partly, configured) == [
        "students.archs=[simpler_cnn]",
        "~finetune.models.tiny.layers",
    ]
    runs = [
        next(iter(parse_exp_show(exp_show(experiment(f"s{seed}", 0, 0.8, 0.8, students=s)))))
        for seed, s in (
            (0, PARAMS["students"] | {"seed": 0}),
            (1, PARAMS["students"] | {"seed": 1}),
        )
    ]
    text = render("real", runs, model_results(runs), [], {}, [], ["students.archs=[simpler_cnn]"])
    assert (
        "dvc exp run --queue -S profile=real -S 'students.archs=[simpler_cnn]' "
        "-S students.seed=0,1" in text
    )
    # the fine-tune and the teacher trained once (top-level seed 0): one value, not two
    results = {r.name: r for r in model_results(runs)}
    assert results["finetune/bert"].seeds == (0,) and results["teacher"].seeds == (0,)
    assert results["student/simpler_cnn-kd"].seeds == (0, 1)


def test_metrics_of_a_stage_not_rerun_for_the_experiments_params_are_left_out() -> None:
    # `dvc exp run -S seed=43 multitask` reruns one stage; the fine-tune's metrics in that
    # experiment are still seed 42's, and dvc.lock says so.
    from textdistill.report import without_stale_metrics

    (run,) = parse_exp_show(exp_show(experiment("s43", 43, 0.8, 0.8)))
    lock = {
        "stages": {
            "finetune@bert": {
                "params": {"params.yaml": {"seed": 42, "finetune.dataset": "amazon"}},
                "outs": [{"path": "metrics/finetune/bert.json"}, {"path": "models/finetune/bert"}],
            },
            "teacher": {  # reran: its locked params are the experiment's
                "params": {"params.yaml": {"seed": 43, "teacher": {"dataset": "agnews"}}},
                "outs": [{"path": "metrics/teacher.json"}],
            },
            "student@simpler_cnn-kd": {  # a directory out holds the metrics file
                "params": {"params.yaml": {"students.seed": 1}},
                "outs": [{"path": "metrics/students"}],
            },
        }
    }
    fresh = without_stale_metrics(run, lock)
    assert fresh.stale == (
        "metrics/finetune/bert.json",
        "metrics/students/simpler_cnn-kd.json",
        "metrics/students/simpler_cnn-none.json",
    )
    assert sorted(fresh.metrics) == ["metrics/teacher.json"]
    assert without_stale_metrics(run, {}) is run
    text = render("real", [fresh], model_results([fresh]), [], {})
    assert "Left out" in text and "- s43: metrics/finetune/bert.json, metrics/students/" in text


def test_models_on_the_sample_are_left_out_of_a_study_with_real_data() -> None:
    from textdistill.report import smoke_datasets

    def download(**sources: str) -> dict[str, Any]:
        return {"download": {name: {"source": source} for name, source in sources.items()}}

    real = download(amazon="sample", agnews="files")
    assert smoke_datasets(real) == {"amazon"}
    assert smoke_datasets(download(amazon="sample", agnews="sample")) == set()  # quick: kept
    (run,) = parse_exp_show(exp_show(experiment("r", 0, 0.8, 0.8, **real)))
    names = [r.name for r in model_results([run])]  # fine-tune on amazon (the sample): out
    assert names == ["teacher", "student/simpler_cnn-none", "student/simpler_cnn-kd"]
    assert "Left out: every model on the generated sample data (amazon)" in render(
        "real", [run], [], [], {}
    )


def _git(repo: Path, *args: str) -> str:
    import subprocess

    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _commit_all(repo: Path, message: str) -> str:
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)
    return _git(repo, "rev-parse", "HEAD")


def test_the_lock_is_read_as_dvc_writes_it_and_the_conf_as_committed(tmp_path: Path) -> None:
    import shutil

    from textdistill.report import _lock, configured_params

    _git(tmp_path, "init", "-q")
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    (tmp_path / "dvc.lock").write_text(
        "stages:\n  s:\n    params:\n      params.yaml:\n        lr: 5e-05\n"
    )
    first = _commit_all(tmp_path, "first")
    config = tmp_path / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("seed: 42", "seed: 7"))
    _commit_all(tmp_path, "second")
    # YAML 1.2, as DVC writes it: a float, which PyYAML would read as the string "5e-05"
    assert _lock(tmp_path, first)["stages"]["s"]["params"]["params.yaml"]["lr"] == 5e-05
    assert _lock(tmp_path, "0" * 40) == {}
    assert configured_params("quick", tmp_path)["seed"] == 7  # type: ignore[index]
    assert configured_params("quick", tmp_path, first)["seed"] == 42  # type: ignore[index]


def test_multitask_tasks_over_seeds_joint_beside_alone_newest_run_of_a_seed_wins() -> None:
    from textdistill.report import multitask_results

    tasks = {"sentiment": {"dataset": "sst"}, "similarity": {"dataset": "sts"}}

    def run(name: str, seed: int, files: dict[str, dict[str, float]]) -> dict[str, Any]:
        exp = experiment(name, seed, 0.5, 0.5, multitask={"tasks": tasks})
        data = exp["revs"][0]["data"]
        data["metrics"] = {
            f"metrics/multitask/{f}.json": {"data": {"test": t}} for f, t in files.items()
        }
        return exp

    joint = {"sentiment/accuracy": 0.50, "similarity/pearson": 0.86}
    runs = list(
        parse_exp_show(
            exp_show(  # newest first, as `dvc exp show` lists them
                run("j43", 43, {"joint": {"sentiment/accuracy": 0.48, "similarity/pearson": 0.85}}),
                run("sst", 42, {"sentiment": {"sentiment/accuracy": 0.47}}),
                run("j42-new", 42, {"joint": joint}),
                run(
                    "j42-old", 42, {"joint": {"sentiment/accuracy": 0.1, "similarity/pearson": 0.1}}
                ),
            )
        )
    )
    (study,) = studies(runs, "real")
    sentiment, similarity = multitask_results(study)
    assert (sentiment.metric, similarity.metric) == ("accuracy", "pearson")
    assert sentiment.joint == {42: 0.50, 43: 0.48} and sentiment.alone == {42: 0.47}
    assert similarity.alone == {}
    assert sentiment.paired().differences == pytest.approx((0.03,))
    text = render("real", study, [], [], {}) + "\n".join(_multitask_table([sentiment, similarity]))
    assert "| sentiment | sst | accuracy | 0.4900 +- 0.0141 | 42, 43 | 0.4700 | 42 |" in text
    assert "| similarity | sts | pearson | 0.8550 +- 0.0071 | 42, 43 | - |  |" in text
    assert "| multitask/joint: sentiment | multitask/sentiment | 42 | +3.00 |" in text

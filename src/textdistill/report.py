"""`textdistill report`: a profile's results, rendered from its DVC experiments.

Seeds are experiments (`dvc exp run --queue -S profile=real -S seed=0,1,2`); this module reads
them back with `dvc exp show --json`, groups the runs of one profile that differ only in their
seed, and writes a markdown report: each model's test accuracy as mean +- sd over seeds, every
distilled student against its plain twin on the same seeds (mean paired difference with a
95 % t interval), the source studies' figure beside the rows it belongs to, labelled
accuracy-against-latency and -parameters charts, each multitask task by the joint model and
alone, every other study of the same commit as an ablation, and the commands and machine
behind it. Nothing in it is typed by hand. Metrics of stages an experiment did not rerun for
its own params (per its dvc.lock) and models on the generated sample data are left out, and
said to be.
"""

from __future__ import annotations

import io
import json
import math
import statistics
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from textdistill.errors import TextdistillError
from textdistill.io import read_yaml, write_text

UNFINISHED = ("queued", "running", "failed")  # `dvc exp show`'s executor states


@dataclass(frozen=True)
class Run:
    """One experiment's params and metrics, as `dvc exp show --json` gives them."""

    name: str
    rev: str
    baseline: str
    params: dict[str, Any]
    metrics: dict[str, dict[str, Any]]  # metrics file -> its data
    stale: tuple[str, ...] = ()  # metrics files left out: trained with other params (below)

    @property
    def seed(self) -> int:
        students = self.params.get("students") or {}
        seed = students.get("seed")  # the students' own seed, when set, else the global one
        return int(seed if seed is not None else self.params["seed"])

    @property
    def seed_key(self) -> str:
        """The params key its seed came from: `students.seed` when set, else `seed`."""
        students = self.params.get("students") or {}
        return "seed" if students.get("seed") is None else "students.seed"

    def training_seed(self, branch: str) -> int:
        """The seed a model of `branch` trained with: students may have their own."""
        return self.seed if branch == "student" else int(self.params["seed"])

    @property
    def profile(self) -> str:
        return str(self.params.get("profile_name", "?"))


@dataclass(frozen=True)
class ModelResult:
    """One model of a study over its seeds."""

    name: str  # finetune/bert, teacher, student/simpler_cnn-kd
    branch: str
    model: str
    variant: str  # fine-tuning loss or KD mode
    dataset: str
    seeds: tuple[int, ...]
    accuracy: tuple[float, ...]
    macro_f1: tuple[float, ...]
    parameters: int
    latency_ms: float  # median over seeds of each run's median single-text CPU latency
    teacher_agreement: float | None
    best_epochs: tuple[int, ...] = ()  # the epoch chosen on validation, per seed
    epochs: int = 0  # epochs run: a best epoch at the last one says "train longer"


@dataclass(frozen=True)
class Paired:
    """`model` minus `baseline`, test accuracy, over the seeds both ran."""

    model: str
    baseline: str
    seeds: tuple[int, ...]
    differences: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.differences)

    def interval(self, level: float = 0.95) -> tuple[float, float] | None:
        """The t interval of the mean difference; None below two seeds."""
        n = len(self.differences)
        if n < 2:
            return None
        from scipy.stats import t  # scikit-learn's dependency: no new package

        half = t.ppf(0.5 + level / 2, n - 1) * statistics.stdev(self.differences) / math.sqrt(n)
        return self.mean - half, self.mean + half


# --- reading experiments -------------------------------------------------------------------


def collect_runs(repo: Path = Path("."), all_commits: bool = True) -> list[Run]:
    """Every finished experiment of the repository (of every commit, by default)."""
    command = ["dvc", "exp", "show", "--json", "--no-fetch"]
    if all_commits:
        command.append("--all-commits")
    try:
        done = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise TextdistillError(f"`{' '.join(command)}` failed: {detail.strip()}") from None
    runs = parse_exp_show(json.loads(done.stdout))
    return [without_stale_metrics(run, _lock(repo, run.rev)) for run in runs]


def _lock(repo: Path, rev: str) -> dict[str, Any]:
    """The dvc.lock committed with an experiment ({} when it has none), read as DVC wrote it
    (`read_yaml`: YAML 1.2)."""
    shown = subprocess.run(
        ["git", "show", f"{rev}:dvc.lock"], cwd=repo, capture_output=True, text=True
    )
    return (read_yaml(shown.stdout) or {}) if shown.returncode == 0 else {}


def without_stale_metrics(run: Run, lock: Mapping[str, Any]) -> Run:
    """`run` without the metrics of stages its experiment did not rerun for its params.

    `dvc exp run -S seed=43 multitask` commits every metrics file of the workspace, but only
    the multitask stage trained with seed 43: the others still hold the baseline's results,
    and counting them as seed 43's would fake a seed. dvc.lock records the params each stage
    last ran with; a stage whose locked params differ from the experiment's is stale (what
    `dvc status` would call changed), and its metrics are left out, by name in `stale`."""
    stale_outs = [
        out["path"]
        for stage in (lock.get("stages") or {}).values()
        if _stage_params_changed(stage, run.params)
        for out in stage.get("outs") or []
    ]

    def is_stale(path: str) -> bool:
        return any(path == out or path.startswith(out.rstrip("/") + "/") for out in stale_outs)

    stale = tuple(sorted(path for path in run.metrics if is_stale(path)))
    if not stale:
        return run
    fresh = {path: data for path, data in run.metrics.items() if path not in stale}
    return replace(run, metrics=fresh, stale=run.stale + stale)


def _stage_params_changed(stage: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    locked = (stage.get("params") or {}).get("params.yaml") or {}
    return any(_dotted(params, key) != value for key, value in locked.items())


def _dotted(params: Mapping[str, Any], key: str) -> Any:
    """params["a"]["b"] for "a.b" (None where a part is missing)."""
    value: Any = params
    for part in key.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def parse_exp_show(rows: Iterable[Mapping[str, Any]]) -> Iterable[Run]:
    """The experiments (not the baselines or the workspace) of `dvc exp show --json`."""
    for baseline in rows:
        for experiment in baseline.get("experiments") or []:
            # A queued or running experiment's commit still holds its baseline's metrics.
            state = (experiment.get("executor") or {}).get("state", "success")
            if state in UNFINISHED:
                continue
            for rev in experiment.get("revs") or []:
                data = rev.get("data") or {}
                if rev.get("error") or not data.get("metrics"):
                    continue  # failed or still queued
                params = (data.get("params") or {}).get("params.yaml", {}).get("data", {})
                metrics = {path: entry.get("data", {}) for path, entry in data["metrics"].items()}
                name = rev.get("name") or experiment.get("name") or rev["rev"][:7]
                yield Run(name, rev["rev"], baseline["rev"], params, metrics)


def studies(runs: Sequence[Run], profile: str) -> list[list[Run]]:
    """The runs of `profile`, grouped by their params but for the seeds (largest group first)."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        if run.profile == profile:
            groups.setdefault(_without_seeds(run.params), []).append(run)
    for group in groups.values():  # by seed; a seed run twice counts its newest run
        group.sort(key=lambda run: run.seed)
    return sorted(groups.values(), key=len, reverse=True)


def _without_seeds(params: Mapping[str, Any]) -> str:
    stripped = json.loads(json.dumps(params))
    stripped.pop("seed", None)
    (stripped.get("students") or {}).pop("seed", None)
    return json.dumps(stripped, sort_keys=True)


# --- results over seeds --------------------------------------------------------------------


def model_results(runs: Sequence[Run]) -> list[ModelResult]:
    """Each model of a study, in the leaderboard's order, over the runs (seeds) that have it."""
    from textdistill.config import FINETUNE_ENSEMBLE
    from textdistill.leaderboard import distill_entries, ensemble_entry, finetune_entries

    params = runs[0].params
    finetune, teacher, students = (params.get(k) or {} for k in ("finetune", "teacher", "students"))
    entries = finetune_entries(
        list(finetune.get("models", {})),
        params.get("loss", "ce"),
        str(finetune.get("dataset")),
        Path("metrics/finetune"),
    )
    if students.get("teacher") == FINETUNE_ENSEMBLE:  # its scores: the teacher_logits metrics
        loss, dataset = params.get("loss", "ce"), str(finetune.get("dataset"))
        entries.append(ensemble_entry(dataset, loss, Path("metrics/teacher_logits.json")))
    if teacher:
        entries += distill_entries(
            students.get("archs", []),
            students.get("kd_modes", []),
            str(teacher.get("dataset")),
            Path("metrics/teacher.json"),
            Path("metrics/students"),
        )
    smoke = smoke_datasets(params)
    results = []
    for entry in entries:
        if entry.task in smoke:
            continue
        path = entry.metrics_path.as_posix()
        # One value per seed the model trained with: runs that varied only the students'
        # seed share one fine-tune and one teacher, which count once.
        found = sorted(_newest_by_seed(runs, path, entry.branch).items())
        if found:
            results.append(
                _model_result(
                    entry.name, entry.branch, entry.model, entry.variant, entry.task, found
                )
            )
    return results


def _model_result(
    name: str, branch: str, model: str, variant: str, dataset: str, found: list[tuple[int, dict]]
) -> ModelResult:
    agreement = [m["teacher_agreement"] for _, m in found if "teacher_agreement" in m]
    return ModelResult(
        name=name,
        branch=branch,
        model=model,
        variant=variant,
        dataset=dataset,
        seeds=tuple(seed for seed, _ in found),
        accuracy=tuple(m["test"]["accuracy"] for _, m in found),
        macro_f1=tuple(m["test"]["macro_f1"] for _, m in found),
        parameters=int(found[0][1]["model"]["parameters"]),
        latency_ms=statistics.median(m["cpu"]["latency_ms"] for _, m in found),
        teacher_agreement=statistics.fmean(agreement) if agreement else None,
        best_epochs=tuple(int(m.get("best_epoch", 0)) for _, m in found),
        epochs=max(int(m.get("train", {}).get("epochs_run", 0)) for _, m in found),
    )


def paired_differences(results: Sequence[ModelResult]) -> list[Paired]:
    """Every distilled student against the plain student of its architecture, seed by seed."""
    by_name = {result.name: result for result in results}
    pairs = []
    for result in results:
        plain = by_name.get(f"student/{result.model}-none")
        if result.branch != "student" or result.variant == "none" or plain is None:
            continue
        pairs.append(_paired(result, plain))
    return pairs


# --- multitask: each task by the joint model and by its model alone ------------------------


@dataclass(frozen=True)
class TaskResult:
    """One task of the multitask stage over seeds: its test score (accuracy for classes,
    Pearson for a target) from the joint model and from the task's model alone."""

    task: str
    dataset: str
    metric: str
    joint: dict[int, float]  # seed -> score
    alone: dict[int, float]

    def paired(self) -> Paired:
        seeds = tuple(sorted(set(self.joint) & set(self.alone)))
        differences = tuple(self.joint[s] - self.alone[s] for s in seeds)
        return Paired(f"multitask/joint: {self.task}", f"multitask/{self.task}", seeds, differences)


def multitask_results(runs: Sequence[Run]) -> list[TaskResult]:
    """Each task of the study's `multitask.tasks`, over the runs (seeds) that have it; a seed
    run twice counts its newest run."""
    from textdistill.leaderboard import SCORE_METRICS

    tasks = (runs[0].params.get("multitask") or {}).get("tasks") or {}
    smoke = smoke_datasets(runs[0].params)
    results = []
    for name, task in tasks.items():
        if task.get("dataset") in smoke:
            continue
        joint, alone = (
            _newest_by_seed(runs, f"metrics/multitask/{path}.json", "multitask")
            for path in ("joint", name)
        )
        tests = [metrics["test"] for metrics in (*joint.values(), *alone.values())]
        metric = next((m for m in SCORE_METRICS if tests and f"{name}/{m}" in tests[0]), None)
        if metric:
            key = f"{name}/{metric}"
            results.append(
                TaskResult(
                    name,
                    str(task.get("dataset")),
                    metric,
                    {seed: float(m["test"][key]) for seed, m in joint.items()},
                    {seed: float(m["test"][key]) for seed, m in alone.items()},
                )
            )
    return results


def _newest_by_seed(runs: Sequence[Run], path: str, branch: str) -> dict[int, dict[str, Any]]:
    """The metrics file `path` of a model of `branch` by the seed it trained with, from each
    seed's newest run that has it (`runs` newest first within a seed, as `dvc exp show`
    lists them)."""
    return {
        run.training_seed(branch): run.metrics[path]
        for run in reversed(runs)
        if path in run.metrics
    }


def _multitask_table(results: Sequence[TaskResult], heading: bool = True) -> list[str]:
    if not results:
        return []
    lines = [
        "## Multitask: one encoder on every task, beside each task alone",
        "",
        "Test score (accuracy for classes, Pearson for a similarity) as mean +- sample sd over",
        "the seeds each model ran; then the joint model minus the task alone, paired by seed,",
        "in points (hundredths of the score).",
        "",
    ]
    lines = lines if heading else []
    lines += [
        "| task | dataset | metric | joint model | seeds | task alone | seeds |",
        "|---|---|---|---:|---|---:|---|",
    ]
    for r in results:
        joint, alone = ([v for _, v in sorted(d.items())] for d in (r.joint, r.alone))
        lines.append(
            f"| {r.task} | {r.dataset} | {r.metric} | {_mean_sd(joint) if joint else '-'} "
            f"| {', '.join(map(str, sorted(r.joint)))} | {_mean_sd(alone) if alone else '-'} "
            f"| {', '.join(map(str, sorted(r.alone)))} |"
        )
    pairs = [pair for pair in (r.paired() for r in results) if pair.seeds]
    if pairs:
        lines += ["", *_paired_table(pairs, False, ("joint better", "alone better"))]
    return lines


# --- ablations: the other studies of the profile, each against the main one ---------------


@dataclass(frozen=True)
class Ablation:
    """A study that differs from the main one in some params (an ingredient removed or
    changed), its student models paired with the main study's by seed."""

    changes: tuple[str, ...]  # "key: main value -> this value"
    pairs: tuple[Paired, ...]  # main model minus this study's model
    own: tuple[Paired, ...] = ()  # this study's distilled students against its plain ones
    models: tuple[ModelResult, ...] = ()  # every model of this study, over its seeds
    tasks: tuple[TaskResult, ...] = ()  # this study's multitask scores, over its seeds
    queue: str = ""  # the `dvc exp run --queue` line that reruns this study


def study_keys(params: Mapping[str, Any]) -> dict[str, Any]:
    """A run's params as dotted keys, seeds aside: what tells two studies apart."""
    from textdistill.tracking import flatten

    return flatten(json.loads(_without_seeds(params)), keep_empty=True)


def ablations(
    main: Sequence[Run],
    others: Sequence[Sequence[Run]],
    queue: Callable[[Sequence[Run]], str] | None = None,
) -> list[Ablation]:
    """Each other study against `main`: which params differ, and for every student model both
    have, main minus it over their common seeds; for each architecture also main's best model
    (by mean accuracy) against the other study's plain student (e.g. against the source's
    recipe: random embeddings, labelled rows, plain CE). `queue` gives a study's command."""
    base = study_keys(main[0].params)
    main_results = [r for r in model_results(main) if r.branch == "student"]
    found = []
    for study in others:
        runs = list(study)
        models = model_results(runs)
        theirs = {r.name: r for r in models if r.branch == "student"}
        params = study_keys(runs[0].params)
        changes = tuple(
            f"{key}: {_shown(base, key)} -> {_shown(params, key)}"
            for key in sorted(set(base) | set(params))
            if base.get(key) != params.get(key)
        )
        pairs = [_paired(ours, theirs[ours.name]) for ours in main_results if ours.name in theirs]
        for arch in dict.fromkeys(r.model for r in main_results):
            distilled = [r for r in main_results if r.model == arch and r.variant != "none"]
            plain = theirs.get(f"student/{arch}-none")
            if distilled and plain is not None:
                best = max(distilled, key=lambda r: statistics.fmean(r.accuracy))
                pairs.append(_paired(best, plain))
        own = tuple(paired_differences(list(theirs.values())))
        paired = tuple(p for p in pairs if p.seeds)
        tasks = tuple(multitask_results(runs))
        command = queue(runs) if queue else ""
        found.append(Ablation(changes, paired, own, tuple(models), tasks, command))
    return found


def _paired(ours: ModelResult, theirs: ModelResult) -> Paired:
    mine = dict(zip(ours.seeds, ours.accuracy, strict=True))
    other = dict(zip(theirs.seeds, theirs.accuracy, strict=True))
    seeds = tuple(sorted(set(mine) & set(other)))
    return Paired(ours.name, theirs.name, seeds, tuple(mine[s] - other[s] for s in seeds))


def _ablation_tables(found: Sequence[Ablation]) -> list[str]:
    if not found:
        return []
    lines = [
        "## Ablations: the main study against each variant",
        "",
        "Every other study of this profile (the same experiments, some params changed), each",
        "student paired with the main study's by seed: main minus variant, test accuracy points.",
        "A row with two different models compares the main study's best distilled student of",
        "an architecture with the variant's plain one. Then, where the variant distils, its own",
        "distilled students against its plain ones (distilled minus plain).",
    ]
    for ablation in found:
        lines += ["", "Variant: " + "; ".join(f"`{c}`" for c in ablation.changes)]
        if ablation.queue:
            lines += ["", "```", ablation.queue, "```"]
        if ablation.pairs:
            lines += ["", *_paired_table(ablation.pairs, False, ("main better", "variant better"))]
        if ablation.own:
            lines += ["", "Within the variant, distilled minus plain:", ""]
            lines += _paired_table(ablation.own, False)
        if ablation.models:
            lines += ["", "The variant's models, test accuracy (mean +- sd over seeds):", ""]
            lines += [
                "| model | data | seeds | test acc | agreement with teacher |",
                "|---|---|---|---:|---:|",
            ]
            lines += [
                f"| {r.name} | {r.dataset} | {', '.join(map(str, r.seeds))} | {_mean_sd(r.accuracy)} "
                f"| {'-' if r.teacher_agreement is None else f'{r.teacher_agreement:.3f}'} |"
                for r in ablation.models
            ]
        if ablation.tasks:
            lines += ["", *_multitask_table(ablation.tasks, heading=False)]
    return lines


# --- rendering -----------------------------------------------------------------------------


def render(
    profile: str,
    runs: Sequence[Run],
    results: Sequence[ModelResult],
    pairs: Sequence[Paired],
    sources: Mapping[str, float],
    charts: Sequence[str] = (),
    overrides: Sequence[str] = (),
) -> str:
    """The markdown report of one study (the runs of one profile and config, over seeds);
    `overrides` are the study's params changes from the profile as configured."""
    seeds = sorted({run.seed for run in runs})
    lines = [
        f"# Results: the `{profile}` profile over seeds {', '.join(map(str, seeds))}",
        "",
        "Rendered by `textdistill report` from the DVC experiments below; nothing here is typed",
        "by hand. Reproduce:",
        "",
        "```",
        f"git checkout {runs[0].baseline[:7]}    # the experiments' commit",
        queue_command(profile, runs, overrides),
        "dvc queue start -j 1       # then wait: dvc queue status",
        f"textdistill report --profile {profile}",
        "```",
        "",
        *_experiments_table(runs),
        "",
        *_data_table(runs),
    ]
    if not results:  # e.g. a multitask study, whose section follows
        return "\n".join(lines) + "\n"
    lines += [
        "",
        "## Test accuracy over seeds",
        "",
        "Mean +- sample sd over the seeds; CPU latency is the median single-text latency",
        "(tokenization included, one thread). The source's figure appears only beside the model",
        "and data it was reported on.",
        "",
        "| model | data | seeds | test acc | macro-F1 | parameters | CPU latency ms | agreement with teacher | best epoch / run | source's acc |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for result in results:
        source = sources.get(result.name)
        agreement = "-" if result.teacher_agreement is None else f"{result.teacher_agreement:.3f}"
        lines.append(
            f"| {result.name} | {result.dataset} | {len(result.seeds)} | {_mean_sd(result.accuracy)} "
            f"| {statistics.fmean(result.macro_f1):.4f} | {result.parameters:,} "
            f"| {result.latency_ms:.2f} | {agreement} | {_best_epochs(result)} "
            f"| {'-' if source is None else f'{source:.4f}'} |"
        )
    lines += ["", *_paired_table(pairs)]
    if charts:
        lines += ["", "## Accuracy against cost", "", "Each point is labelled with its model; the"]
        lines += [
            "dashed line is the Pareto front of its dataset (nothing is both faster and better).",
            "",
        ]
        lines += [f"![accuracy against {name}]({name})" for name in charts]
    return "\n".join(lines) + "\n"


def queue_command(profile: str, runs: Sequence[Run], overrides: Sequence[str]) -> str:
    """The `dvc exp run --queue` line that queues a study again: its profile, its params
    changes from the profile as configured, and its seeds."""
    seeds = ",".join(map(str, sorted({run.seed for run in runs})))
    extra = "".join(f" -S '{override}'" for override in overrides)
    return f"dvc exp run --queue -S profile={profile}{extra} -S {runs[0].seed_key}={seeds}"


def _experiments_table(runs: Sequence[Run]) -> list[str]:
    machines = sorted({_machine(run) for run in runs})
    lines = [
        "| experiment | seed | commit | machine |",
        "|---|---:|---|---|",
    ]
    lines += [f"| {run.name} | {run.seed} | {run.baseline[:7]} | {_machine(run)} |" for run in runs]
    if len(machines) > 1:
        lines += ["", "**The runs come from different machines: latencies are not comparable.**"]
    stale = [f"- {run.name}: {_paths(run.stale)}" for run in runs if run.stale]
    if stale:
        lines += [
            "",
            "Left out: metrics whose stage did not rerun with its experiment's params (a partial",
            "`dvc exp run <stage>`): they are another run's results.",
            "",
            *stale,
        ]
    return lines


def _paths(paths: Sequence[str]) -> str:
    """Paths listed briefly: three or more files of one folder as `folder/ (n files)`."""
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        by_folder.setdefault(path.rpartition("/")[0], []).append(path)
    return ", ".join(
        f"{folder}/ ({len(files)} files)" if len(files) > 2 else ", ".join(files)
        for folder, files in by_folder.items()
    )


def _data_table(runs: Sequence[Run]) -> list[str]:
    """Where each dataset came from and how it was split (the source's own sizes differ)."""
    params = runs[0].params
    smoke = smoke_datasets(params)
    lines = ["| data | from | train | val | test |", "|---|---|---:|---:|---:|"]
    for name, download in (params.get("download") or {}).items():
        found = [run.metrics.get(f"metrics/data/{name}.json", {}).get("rows") for run in runs]
        rows = next((r for r in found if r), None)  # the newest run that prepared it
        if not rows or name in smoke:
            continue
        source = download.get("source")
        origin = download.get(source) or {}
        paths = [str(v) for v in origin.values() if isinstance(v, str)]
        where = ", ".join(paths) if source == "files" else source
        lines.append(
            f"| {name} | {source}: {where} | {rows['train']:,} | {rows['val']:,} | {rows['test']:,} |"
        )
    if smoke:
        lines += [
            "",
            f"Left out: every model on the generated sample data ({', '.join(sorted(smoke))}),",
            "whose figures are smoke tests, not results.",
        ]
    return lines


def smoke_datasets(params: Mapping[str, Any]) -> set[str]:
    """The datasets of the generated sample (source `sample`) of a study that also has real
    data: their figures are smoke tests, and a report of results leaves them out. A study
    on the sample alone (the quick profile) keeps them: it has nothing else to show."""
    sources = {
        name: download.get("source") for name, download in (params.get("download") or {}).items()
    }
    sample = {name for name, source in sources.items() if source == "sample"}
    return sample if sample != set(sources) else set()


def _machine(run: Run) -> str:
    for data in run.metrics.values():
        machine = data.get("machine")
        if machine:
            gpu = "" if machine.get("gpu") in (None, "none") else f", {machine['gpu']}"
            kernels = f"; kernels {machine['kernels']}" if machine.get("kernels") else ""
            cpus = f"{machine['cpus']} CPUs{gpu}{kernels}"
            return f"{machine['cpu']} ({cpus}; torch {machine['torch']})"
    return "not recorded"


def _paired_table(
    pairs: Sequence[Paired], header: bool = True, verdicts: tuple[str, str] = ("helps", "hurts")
) -> list[str]:
    if not pairs:
        return []
    lines = [
        "## Distilled against plain, paired by seed",
        "",
        "Test accuracy of each distilled student minus its plain twin (same architecture, same",
        "seed), in points; the interval is the 95 % t interval of the mean difference. An",
        "interval that contains 0 means the noise over these seeds is as large as the effect.",
        "",
    ]
    lines = lines if header else []
    lines += [
        "| model | against | seeds | mean difference | 95 % interval | verdict |",
        "|---|---|---|---:|---|---|",
    ]
    for pair in pairs:
        interval = pair.interval()
        if interval is None:
            shown, verdict = "-", "one seed: no verdict"
        else:
            low, high = (100 * value for value in interval)
            shown = f"[{low:+.2f}, {high:+.2f}]"
            verdict = verdicts[0] if low > 0 else verdicts[1] if high < 0 else "within noise"
        lines.append(
            f"| {pair.model} | {pair.baseline} | {', '.join(map(str, pair.seeds))} "
            f"| {100 * pair.mean:+.2f} | {shown} | {verdict} |"
        )
    return lines


def _best_epochs(result: ModelResult) -> str:
    """The validation-chosen epochs over the seeds against the epochs run ("9, 10, 10 / 10")."""
    if not result.best_epochs or not result.epochs:
        return "-"
    return f"{', '.join(map(str, result.best_epochs))} / {result.epochs}"


def _mean_sd(values: Sequence[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.4f}"
    return f"{statistics.fmean(values):.4f} +- {statistics.stdev(values):.4f}"


# --- the command ---------------------------------------------------------------------------


def main_study(
    groups: Sequence[Sequence[Run]], configured: Mapping[str, Any] | None
) -> tuple[list[Run], list[list[Run]]]:
    """The main study and its variants. Main: the study whose params differ from the profile
    as configured (`configured`) in the fewest keys, the larger on a tie (without
    `configured`: the largest). Variants: the other studies' runs made from the main study's
    commit(s), i.e. the same code, which differ from it only in params (a study whose params
    were also run at another commit keeps its runs at this one: a control rerun on new code)."""
    if configured is None:
        ranked = sorted(groups, key=len, reverse=True)
    else:
        base = study_keys(configured)

        def distance(study: Sequence[Run]) -> tuple[int, int]:
            params = study_keys(study[0].params)
            keys = set(base) | set(params)
            return sum(base.get(k) != params.get(k) for k in keys), -len(study)

        ranked = sorted(groups, key=distance)
    main = list(ranked[0])
    commits = {run.baseline for run in main}
    same_code = ([run for run in g if run.baseline in commits] for g in ranked[1:])
    return main, [runs for runs in same_code if runs]


def hydra_overrides(params: Mapping[str, Any], configured: Mapping[str, Any]) -> list[str]:
    """The `-S` overrides (Hydra syntax) that turn the configured profile into `params`,
    seeds aside: `key=value` for a changed or added key, `~key` for a removed one. A removed
    subtree is removed whole (`~finetune.models.tinybert`, not `~finetune.models.tinybert.lr`,
    which would leave `tinybert: {}` behind and with it a stage)."""
    ours = study_keys(params)
    base = study_keys(configured)
    changed = [
        f"{key}={_hydra_value(ours[key])}" for key in sorted(ours) if ours[key] != base.get(key)
    ]
    removed = {_removed_root(key, ours) for key in set(base) - set(ours)}
    return changed + [f"~{key}" for key in sorted(removed)]


def _removed_root(key: str, ours: Mapping[str, Any]) -> str:
    """The shortest dotted prefix of `key` of which `ours` holds nothing."""
    parts = key.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        if not any(k == prefix or k.startswith(prefix + ".") for k in ours):
            return prefix
    return key


def _shown(params: Mapping[str, Any], key: str) -> str:
    """A param's value as a `-S` override writes it (`true`, `[a,b]`), or `(unset)`."""
    return _hydra_value(params[key]) if key in params else "(unset)"


def _hydra_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(_hydra_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_hydra_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


def configured_params(profile: str, repo: Path, rev: str | None = None) -> dict[str, Any] | None:
    """The params `profile` composes to from the repository's conf/ (None without one), as
    checked out or, with `rev`, as committed there: overrides that reproduce an experiment
    are relative to its own commit's conf, not to one that has grown keys since."""
    from textdistill.profiles import compose

    if rev is None:
        conf = repo / "conf"
        return compose(profile, conf_dir=conf) if (conf / "config.yaml").is_file() else None
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", rev, "conf"], cwd=repo, capture_output=True, check=False
        )
        if archive.returncode != 0:
            return None
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        return configured_params(profile, Path(tmp))


def write_report(
    profile: str, out: Path, repo: Path = Path("."), all_commits: bool = True
) -> list[ModelResult]:
    """Collect the experiments of `profile`, render its main study with its variants as
    ablations, and write it (and its charts)."""
    groups = studies(collect_runs(repo, all_commits), profile)
    if not groups:
        raise TextdistillError(
            f"no finished experiment of the {profile!r} profile; run e.g. "
            f"`dvc exp run --queue -S profile={profile} -S seed=0,1,2 && dvc queue start`"
        )
    configured = configured_params(profile, repo)
    main, variants = main_study(groups, configured)
    runs = list(main)  # every run: a seed run twice counts its newest run of each model

    def overrides(study: Sequence[Run]) -> list[str]:  # against its own commit's conf
        at_commit = configured_params(profile, repo, study[0].baseline)
        return hydra_overrides(study[0].params, at_commit) if at_commit else []

    def queue(study: Sequence[Run]) -> str:
        return queue_command(profile, study, overrides(study))

    results = model_results(runs)
    multitask = _multitask_table(multitask_results(runs))
    if not results and not multitask:
        raise TextdistillError(f"the {profile!r} experiments hold no model's metrics to report")
    charts = []
    for cost in CHART_AXES if results else ():
        chart = out.with_name(f"{out.stem}_accuracy_{cost}.svg")
        write_text(chart, accuracy_svg(results, profile, cost))
        charts.append(chart.name)
    sources = source_figures(results, runs[0].params)
    pairs = paired_differences(results)
    report = render(profile, runs, results, pairs, sources, charts, overrides(runs))
    report += "\n".join(["", *multitask, ""]) if multitask else ""
    tables = _ablation_tables(ablations(runs, variants, queue))
    write_text(out, report + ("\n" + "\n".join(tables) + "\n" if tables else ""))
    return results


# The charts of a report: x axis (a ModelResult attribute) -> its label.
CHART_AXES = {
    "latency_ms": "CPU latency per text, ms (log)",
    "parameters": "parameters (log)",
}


def accuracy_svg(results: Sequence[ModelResult], profile: str, cost: str) -> str:
    """Every model, labelled, at (`cost`, mean test accuracy +- sd); a Pareto front per dataset
    (models of different tasks never compete)."""
    from textdistill.plots import Point, scatter_svg

    points = [
        Point(
            name=result.name,
            x=float(getattr(result, cost)),
            y=statistics.fmean(result.accuracy),
            y_error=statistics.stdev(result.accuracy) if len(result.accuracy) > 1 else None,
            group=result.dataset,
        )
        for result in results
    ]
    label = CHART_AXES[cost]
    title = (
        f"{profile} profile: test accuracy (mean +- sd over seeds) against {label.split(' (')[0]}"
    )
    return scatter_svg(points, label, "test accuracy", title)


def source_figures(results: Sequence[ModelResult], params: Mapping[str, Any]) -> dict[str, float]:
    """The source's test accuracy for the rows whose model *and* data are the source's."""
    from textdistill.config import parse_params
    from textdistill.leaderboard import source_figure

    parsed = parse_params(dict(params), source="the experiment's params")
    figures = {}
    for result in results:
        figure = source_figure(parsed, result.branch, result.model, result.variant, result.dataset)
        if figure is not None:
            figures[result.name] = figure
    return figures

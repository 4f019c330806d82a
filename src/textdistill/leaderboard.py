"""The `evaluate` stage's logic: every model's metrics in one table, beside the sources' figures.

Outputs: `metrics/summary.json` (nested keys, so `dvc metrics diff` shows e.g.
`finetune.bert.accuracy`), `metrics/leaderboard.csv` (one row per model, with the Pareto fronts
the accuracy plots draw), `reports/leaderboard.md` and an SVG of accuracy against CPU latency.

Source figures: a source study's accuracy is only comparable on the source's data, so each
figure names the dataset it was measured on, and a row shows it only when the row's dataset
is that data. A dataset is the source's when its `download.<name>` params say so, all of:
- the raw format is the source's (`fasttext` for Amazon polarity, `agnews_csv` for AG News),
- the class names are the source's, in the source's order (the order maps label ids to names),
- the origin is the source's: `hub` at the source's path (`fancyzhx/amazon_polarity`,
  `fancyzhx/ag_news`, or their old unprefixed names), `files` (the real files, such as
  `../shared/data`, or a user's own copy of them), or `sample` (the embedded imitation of the
  source's data: its figures stay shown, and the report flags them as smoke).
Params alone decide, so the stage needs no data as a dependency. The weak spot is `files`: a
user's own two-class fastText file whose classes are named `negative, positive` reads as Amazon
polarity; naming its classes differently (or using the `table` format) keeps the figures away.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from textdistill.config import FINETUNE_ENSEMBLE, FINETUNED_TEACHER
from textdistill.io import read_json
from textdistill.plots import Point, pareto_front, scatter_svg

if TYPE_CHECKING:
    from textdistill.config import DownloadConfig, Params


@dataclass(frozen=True)
class SourceData:
    """A dataset a source study reported on, as `download.<name>` params would describe it."""

    name: str
    format: str
    classes: tuple[str, ...]
    hub_paths: frozenset[str]


AMAZON_POLARITY = SourceData(
    "amazon_polarity",
    "fasttext",
    ("negative", "positive"),
    frozenset({"fancyzhx/amazon_polarity", "amazon_polarity"}),
)
AG_NEWS = SourceData(
    "ag_news",
    "agnews_csv",
    ("World", "Sports", "Business", "Sci/Tech"),
    frozenset({"fancyzhx/ag_news", "ag_news"}),
)
SOURCE_DATA = (AMAZON_POLARITY, AG_NEWS)

# Test accuracy reported by the source studies (SEEDS.md).
# Keys: (source dataset, branch, model, loss or KD).
SOURCE_ACCURACY: dict[tuple[str, str, str, str], float] = {
    ("amazon_polarity", "finetune", "bert", "ce"): 0.880,
    ("amazon_polarity", "finetune", "bert", "focal"): 0.905,
    ("amazon_polarity", "finetune", "distilbert", "focal"): 0.900,
    # invalid in the source: classified from a pooler bug
    ("amazon_polarity", "finetune", "tinybert", "focal"): 0.850,
    ("ag_news", "teacher", "vdcnn", "ce"): 0.9326,
    ("ag_news", "student", "simple_cnn", "none"): 0.9087,
    ("ag_news", "student", "simple_cnn", "dist"): 0.9225,
    ("ag_news", "student", "simpler_cnn", "none"): 0.9092,
    ("ag_news", "student", "simpler_cnn", "dist"): 0.9146,
}
SOURCE_NOTES = {
    ("amazon_polarity", "finetune", "tinybert", "focal"): "the source's TinyBERT had a pooler bug",
}


def source_dataset(download: DownloadConfig) -> str | None:
    """The name of the source dataset that these `download.<name>` params read, if any."""
    for data in SOURCE_DATA:
        if download.format != data.format or tuple(download.classes) != data.classes:
            continue
        if download.source in ("files", "sample"):
            return data.name
        hub = download.hub
        if download.source == "hub" and hub is not None and hub.path.lower() in data.hub_paths:
            return data.name
    return None


@dataclass(frozen=True)
class Entry:
    """One trained model: where its metrics are and what it is compared with."""

    name: str  # e.g. "finetune/bert", "student/simple_cnn-dist"
    branch: str  # finetune | teacher | student
    model: str
    variant: str  # the fine-tuning loss or the KD mode
    task: str
    metrics_path: Path
    reference: str | None  # the entry it is compressed from (its teacher), if any
    source: str | None = None  # the source dataset its data is (`source_dataset`), if any


def finetune_entries(
    models: Sequence[str],
    loss: str,
    dataset: str,
    root: Path,
    reference: str = "bert",
    source: str | None = None,
) -> list[Entry]:
    """The fine-tuned models; `source` names the source dataset `dataset` is, if it is one."""
    ref = f"finetune/{reference}" if reference in models else None
    return [
        Entry(
            f"finetune/{m}",
            "finetune",
            m,
            loss,
            dataset,
            root / f"{m}.json",
            None if m == reference else ref,
            source,
        )
        for m in models
    ]


def distill_entries(
    archs: Sequence[str],
    kd_modes: Sequence[str],
    dataset: str,
    teacher: Path,
    students: Path,
    source: str | None = None,
    reference: str = "teacher",
) -> list[Entry]:
    """The teacher and its students; `source` names the source dataset `dataset` is, if any;
    `reference` the entry the students learnt from (the teacher, or `finetune/<model>`)."""
    entries = [Entry("teacher", "teacher", "vdcnn", "ce", dataset, teacher, None, source)]
    entries += [
        Entry(
            f"student/{a}-{k}",
            "student",
            a,
            k,
            dataset,
            students / f"{a}-{k}.json",
            reference,
            source,
        )
        for a in archs
        for k in kd_modes
    ]
    return entries


# The encoders the sources fine-tuned (and the teacher's), by the pipeline's model names: a
# source's figure is about that model, so it is not shown beside a stand-in (e.g. MiniLM as
# `bert` in the quick and real profiles), even on the source's data.
SOURCE_ENCODERS = {
    "bert": "bert-base-uncased",
    "distilbert": "distilbert-base-uncased",
    "tinybert": "huawei-noah/tinybert_general_4l_312d",
}


def source_model(params: Params, branch: str, model: str) -> bool:
    """Whether a model is the source's: its encoder is the source's hub model (fine-tunes and
    the teacher's features); students are the source's architectures by name."""
    if branch == "student":
        return True
    name = params.teacher_config().encoder if branch == "teacher" else model
    spec = params.pretrained.get(name)
    wanted = SOURCE_ENCODERS.get("bert" if branch == "teacher" else model)
    return bool(spec and spec.source == "hub" and spec.id and spec.id.lower() == wanted)


def source_figure(
    params: Params, branch: str, model: str, variant: str, dataset: str
) -> float | None:
    """The source's test accuracy for this model, only on the source's model *and* data."""
    data = source_dataset(params.download_config(dataset))
    if data is None or not source_model(params, branch, model):
        return None
    return SOURCE_ACCURACY.get((data, branch, model, variant))


# The leaderboard entry of the ensemble of the finetune branch, as a teacher (its test scores
# and cost are in the teacher_logits stage's metrics).
ENSEMBLE_ENTRY = "finetune/ensemble"


def student_reference(teacher: str) -> str:
    """The leaderboard entry of `students.teacher`: compression and speed-up are against it."""
    if teacher == FINETUNE_ENSEMBLE:
        return ENSEMBLE_ENTRY
    match = FINETUNED_TEACHER.fullmatch(teacher)
    return f"finetune/{match['name']}" if match else "teacher"


def ensemble_entry(dataset: str, loss: str, teacher_logits: Path) -> Entry:
    """The ensemble teacher's row: averaged logits, so its variant is its members' loss."""
    _, model = ENSEMBLE_ENTRY.split("/")
    return Entry(ENSEMBLE_ENTRY, "finetune", model, loss, dataset, teacher_logits, None)


def pipeline_entries(
    params: Params, finetune: Path, teacher: Path, students: Path, teacher_logits: Path
) -> list[Entry]:
    """Every model the params train, each knowing whether its data is a source's data; with an
    ensemble teacher, the ensemble too (from `teacher_logits`, the teacher_logits metrics)."""
    tuned, distill = params.finetune_config(), params.students_config()
    dataset = params.teacher_config().dataset
    entries = finetune_entries(
        list(tuned.models),
        params.loss,
        tuned.dataset,
        finetune,
        source=source_dataset(params.download_config(tuned.dataset)),
    )
    if distill.teacher == FINETUNE_ENSEMBLE:
        entries.append(ensemble_entry(dataset, params.loss, teacher_logits))
    entries += distill_entries(
        distill.archs,
        distill.kd_modes,
        dataset,
        teacher,
        students,
        source=source_dataset(params.download_config(dataset)),
        reference=student_reference(distill.teacher),
    )
    # A stand-in for the source's model (MiniLM as `bert`) gets no source figure.
    return [
        entry if source_model(params, entry.branch, entry.model) else replace(entry, source=None)
        for entry in entries
    ]


def row(entry: Entry, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """One leaderboard row; the source's figure only when the entry is on the source's data."""
    key = (entry.source or "", entry.branch, entry.model, entry.variant)
    source = SOURCE_ACCURACY.get(key)
    return {
        "name": entry.name,
        "task": entry.task,
        "variant": entry.variant,
        "accuracy": metrics["test"]["accuracy"],
        "macro_f1": metrics["test"]["macro_f1"],
        "ece": metrics["test"]["ece"],
        "parameters": metrics["model"]["parameters"],
        "size_mb": metrics["model"]["size_mb"],
        "latency_ms": metrics["cpu"]["latency_ms"],
        "examples_per_s": metrics["cpu"]["examples_per_s"],
        "train_seconds": metrics.get("train", {}).get("seconds"),  # none for an ensemble
        "teacher_agreement": metrics.get("teacher_agreement"),
        "source_accuracy": source,
    }


def leaderboard(entries: Sequence[Entry]) -> pd.DataFrame:
    """One row per model with compression and speed-up against its reference model."""
    rows = {e.name: row(e, read_json(e.metrics_path)) for e in entries if e.metrics_path.is_file()}
    for entry in entries:
        if entry.name not in rows:
            continue
        ref = rows.get(entry.reference) if entry.reference else None
        current = rows[entry.name]
        current["compression"] = (
            round(ref["parameters"] / current["parameters"], 2) if ref else None
        )
        current["speedup"] = round(ref["latency_ms"] / current["latency_ms"], 2) if ref else None
    return with_fronts(pd.DataFrame(list(rows.values())))


# The cost columns the accuracy plots use; `pareto_<cost>` marks each plot's front.
COSTS = ("latency_ms", "parameters")


def with_fronts(board: pd.DataFrame) -> pd.DataFrame:
    """`board` with a boolean `pareto_<cost>` column per cost: its accuracy-vs-cost front.

    Fronts are per task: accuracies on different datasets do not compete. The DVC template
    `.dvc/plots/pareto.json` draws the front from the column named after the plot's x field,
    so the front is defined once, here, and tested.
    """
    if board.empty:
        return board
    for cost in COSTS:
        board[f"pareto_{cost}"] = False
        for _, group in board.groupby("task", sort=False):
            pairs = zip(group[cost].astype(float), group["accuracy"].astype(float), strict=True)
            board.loc[group.index, f"pareto_{cost}"] = pareto_front(list(pairs))
    return board


def accuracy_svg(board: pd.DataFrame, cost: str = "latency_ms") -> str:
    """Accuracy against `cost` as a standalone SVG: a labelled point per model, a front per task."""
    labels = {"latency_ms": "CPU latency, ms per example", "parameters": "parameters"}
    points = [
        Point(r["name"], float(r[cost]), float(r["accuracy"]), group=r["task"])
        for r in board.to_dict("records")
        if not (math.isnan(float(r[cost])) or math.isnan(float(r["accuracy"])))
    ]
    title = f"Test accuracy against {labels.get(cost, cost)}"
    return scatter_svg(points, labels.get(cost, cost), "test accuracy", title)


def summary(board: pd.DataFrame) -> dict[str, Any]:
    """Nested metrics for `dvc metrics diff`: {branch: {model: {accuracy, ...}}}."""
    out: dict[str, Any] = {}
    for record in board.to_dict("records"):
        branch, _, model = record["name"].partition("/")
        values = {k: record[k] for k in ("accuracy", "macro_f1", "ece", "latency_ms", "parameters")}
        if model:
            out.setdefault(branch, {})[model] = values
        else:
            out[branch] = values
    return out


def render(board: pd.DataFrame, smoke: Mapping[str, bool]) -> str:
    """The markdown leaderboard; sample-data tasks are flagged as smoke figures."""
    lines = ["# Leaderboard", ""]
    flagged = sorted(task for task, is_smoke in smoke.items() if is_smoke)
    if flagged:
        lines += [
            f"> Tasks on the embedded **sample** data ({', '.join(flagged)}): smoke figures that show the",
            "> pipeline works. They are not results and are not comparable with the source's figures.",
            "",
        ]
    header = (
        "| model | task | loss / KD | test acc | macro-F1 | ECE | params | size MB | CPU ms/ex | ex/s "
        "| train s | compression | speed-up | source's acc |"
    )
    lines += [header, "|" + "---|" * 14]
    for r in board.to_dict("records"):
        source = "" if pd.isna(r["source_accuracy"]) else f"{r['source_accuracy']:.4f} (source)"
        lines.append(
            f"| {r['name']} | {r['task']} | {r['variant']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['ece']:.4f} "
            f"| {r['parameters'] / 1e6:.1f}M | {r['size_mb']:.1f} | {r['latency_ms']:.2f} | {r['examples_per_s']:.0f} "
            f"| {_seconds(r['train_seconds'])} | {_ratio(r['compression'])} | {_ratio(r['speedup'])} | {source} |"
        )
    lines += [
        "",
        "Compression and speed-up are against the model each one is distilled or derived from "
        "(students: the teacher they learn from, `students.teacher`; DistilBERT/TinyBERT: the "
        "fine-tuned BERT), by parameters and by CPU latency (one example, one thread, tokenization included). ECE: expected calibration "
        "error, 15 bins, at the temperature fitted on validation. Source figures: SEEDS.md (test sets of 200 reviews / 7,600 news), shown "
        "only beside the sources' own models on their own data (Amazon polarity, AG News): a "
        "stand-in encoder (MiniLM as bert) gets none.",
    ]
    return "\n".join(lines) + "\n"


# --- the multitask stages: one row per task, the joint model beside the task alone --------

# A task's score in the multitask metrics: accuracy for classes, Pearson for a target.
SCORE_METRICS = ("accuracy", "pearson")


def multitask_rows(params: Params, metrics_dir: Path) -> list[dict[str, Any]]:
    """Each task of `multitask.tasks`: its test score from the joint model (`joint.json`) and
    from the model of that task alone (`<task>.json`), and the difference."""
    if params.multitask is None:
        return []
    joint = read_json(metrics_dir / "joint.json")["test"]
    rows = []
    for name, task in params.multitask.tasks.items():
        alone = read_json(metrics_dir / f"{name}.json")["test"]
        metric = next(m for m in SCORE_METRICS if f"{name}/{m}" in joint)
        together, single = joint[f"{name}/{metric}"], alone[f"{name}/{metric}"]
        rows.append(
            {
                "task": name,
                "dataset": task.dataset,
                "metric": metric,
                "joint": together,
                "single": single,
                "difference": round(together - single, 6),
            }
        )
    return rows


def render_multitask(rows: Sequence[Mapping[str, Any]]) -> str:
    """The leaderboard's multitask section (empty without a multitask stage)."""
    if not rows:
        return ""
    lines = [
        "",
        "## Multitask: one encoder on every task, beside each task alone",
        "",
        "| task | dataset | test metric | joint model | task alone | joint - alone |",
        "|---|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['task']} | {r['dataset']} | {r['metric']} | {r['joint']:.4f} | {r['single']:.4f} "
        f"| {r['difference']:+.4f} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def _ratio(value: float | None) -> str:
    return "" if value is None or pd.isna(value) else f"{value:.1f}x"


def _seconds(value: float | None) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.0f}"


README_START = "<!-- results:start (generated by `make results` from reports/leaderboard.md) -->"
README_END = "<!-- results:end -->"


def with_results(readme: str, board_markdown: str) -> str:
    """`readme` with the block between the results markers replaced by the leaderboard."""
    start, end = readme.index(README_START), readme.index(README_END)
    body = board_markdown.split("\n", 2)[2].strip()  # drop the "# Leaderboard" title
    return readme[: start + len(README_START)] + "\n" + body + "\n" + readme[end:]


def main() -> None:
    import argparse

    from textdistill.io import write_text

    parser = argparse.ArgumentParser(description="Copy reports/leaderboard.md into README.md.")
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--report", type=Path, default=Path("reports/leaderboard.md"))
    args = parser.parse_args()
    readme = args.readme.read_text(encoding="utf-8")
    write_text(args.readme, with_results(readme, args.report.read_text(encoding="utf-8")))
    print(f"{args.readme}: results section updated from {args.report}")


if __name__ == "__main__":
    main()

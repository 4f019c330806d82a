"""Real-data checks: the pipeline's own functions on the real files in `../shared/data`.

The files are read in place through the `files` source (never copied into the repository) and
go through exactly what the stages run: `download` (parse + pandera), `prepare` (cleaning,
de-duplication, seeded stratified splits), `finetune`, `features`, the VDCNN teacher and the
students. Only the DVC and MLflow bookkeeping around them is left out, so this also runs on a
GPU box that has neither installed.

    python benchmarks/real_data.py data                     # parse and split both datasets: counts
    python benchmarks/real_data.py finetune --recipe quick  # quick profile's training settings
    python benchmarks/real_data.py finetune --recipe paper  # the source's (Adam 5e-6, 7 epochs, 512)
    python benchmarks/real_data.py distill --seeds 0 1 2    # teacher; students plain / KD / DIST
    python benchmarks/real_data.py report                   # reports/real_data.md from the JSON

Each check writes `reports/real_data/<check>.json` with the command, machine and settings it
ran with; `report` renders all of them. `--bert DIR` replaces the offline package's MiniLM with
a local copy of it (for a machine where the package is not installed).

Data layout (see ../shared/data/README.md): Amazon 1,600 train / 400 val from the 5,000-line
train sample, test 200 (the source's size) and the whole 6,459-line test prefix; AG News from
its complete test.csv split with a seed (the train file there is an unbalanced 2,000-row prefix).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer

from textdistill.config import (
    DownloadConfig,
    EncoderSpec,
    PrepareConfig,
    TrainConfig,
    load_params,
)
from textdistill.data.prepare import PreparedData, prepare, write_prepared
from textdistill.data.sources import download
from textdistill.distill import (
    KD_LOSSES,
    teacher_logits,
    train_student,
    train_teacher,
    write_logits,
)
from textdistill.evaluate import classification_metrics, text_latency
from textdistill.features import compute_features
from textdistill.finetune import INPUTS, encode_splits, finetune
from textdistill.io import write_json, write_text
from textdistill.losses import build_loss
from textdistill.models.pretrained import materialize_named
from textdistill.models.store import load_model, save_model
from textdistill.profiles import compose
from textdistill.results import count_parameters
from textdistill.train import FitResult, predict_logits, resolve_device, resolve_precision

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
RESULTS = REPO / "reports" / "real_data"
REPORT = REPO / "reports" / "real_data.md"
LATENCY_EXAMPLES = 50
Save = Callable[..., None]  # save(results, complete=False): write the check's JSON so far
# The source studies' reported test accuracy (SEEDS.md), for the tables.
SOURCE_FINETUNE = {("bert", "ce"): 0.880, ("bert", "focal"): 0.905, ("distilbert", "focal"): 0.900}
SOURCE_FINETUNE_SECONDS = {
    ("bert", "ce"): 558,
    ("bert", "focal"): 557,
    ("distilbert", "focal"): 297,
}
SOURCE_DISTILL = {
    "teacher": 0.9326,
    "simple_cnn-none": 0.9087,
    "simple_cnn-dist": 0.9225,
    "simpler_cnn-none": 0.9092,
    "simpler_cnn-dist": 0.9146,
}


# --- data ----------------------------------------------------------------------------------


def download_configs(shared: Path) -> dict[str, DownloadConfig]:
    """The real files as `files` sources, exactly as a user would write them in params."""
    amazon, agnews = shared / "amazon_polarity_ft", shared / "ag_news"
    return {
        "amazon": DownloadConfig(
            format="fasttext",
            classes=["negative", "positive"],
            source="files",
            files={
                "train": str(amazon / "train.sample5000.ft.txt.gz"),
                "test": str(amazon / "test.head6459.ft.txt.gz"),
            },
        ),
        "agnews": DownloadConfig(
            format="agnews_csv",
            classes=["World", "Sports", "Business", "Sci/Tech"],
            source="files",
            files={
                "train": str(agnews / "train.head2000.csv.gz"),
                "test": str(agnews / "test.csv.gz"),
            },
        ),
        # The complete test.csv as the only pool, split into train/val/test below.
        "agnews_test_csv": DownloadConfig(
            format="agnews_csv",
            classes=["World", "Sports", "Business", "Sci/Tech"],
            source="files",
            files={"train": str(agnews / "test.csv.gz")},
        ),
    }


SPLITS = {
    "amazon": {"train": 1600, "val": 400, "test": 200, "test_from": "test"},
    "amazon_all_test": {"train": 1600, "val": 400, "test": "all", "test_from": "test"},
    "agnews": {"train": "all", "val": 400, "test": "all", "test_from": "test"},
    "agnews_test_csv": {"train": "all", "val": 1000, "test": 2000, "test_from": "train"},
}


def prepared(name: str, raw: str, args: argparse.Namespace) -> PreparedData:
    """Download (reference, parse, validate) the raw files, then prepare them as the stage does."""
    config = download_configs(args.shared)[raw]
    raw_dir = args.work / "raw" / raw
    download(config, raw_dir, args.seed)
    data = prepare(raw_dir, PrepareConfig.model_validate({"splits": SPLITS[name]}), args.seed)
    write_prepared(data, args.work / "prepared" / name)  # e.g. for benchmarks/finetune_bench.py
    return data


def check_data(args: argparse.Namespace, save: Save) -> None:
    layouts = {
        "amazon": "amazon",
        "amazon_all_test": "amazon",
        "agnews": "agnews",
        "agnews_test_csv": "agnews_test_csv",
    }
    results = {}
    for name, raw in layouts.items():
        data = prepared(name, raw, args)
        metrics = data.metrics()
        results[name] = {
            "files": {k: str(v) for k, v in download_configs(args.shared)[raw].files},
            "splits": SPLITS[name],
            "rows": metrics["rows"],
            "class_balance": metrics["class_balance"],
            "tokens_p50_p95": {
                split: [values["p50"], values["p95"]] for split, values in metrics["tokens"].items()
            },
        }
    save(results, complete=True)


# --- encoders ------------------------------------------------------------------------------


def encoders(args: argparse.Namespace) -> dict[str, Path]:
    """The quick profile's three encoders (MiniLM and two derived from it), materialized once."""
    specs = dict(load_params(REPO / "params.yaml").pretrained)
    if args.bert is not None:
        specs["bert"] = EncoderSpec(source="local", path=str(args.bert.resolve()))
    dirs = {}
    for name in ("bert", "distilbert", "tinybert"):
        dirs[name] = args.work / "encoders" / name
        if not (dirs[name] / "source.json").is_file():
            materialize_named(name, specs, dirs[name])
    return dirs


# --- fine-tuning ---------------------------------------------------------------------------


def train_config(settings: dict[str, Any], args: argparse.Namespace) -> TrainConfig:
    """A profile's training settings on this run's device (and epochs, for a dry run)."""
    overrides = {"device": args.device} | ({"epochs": args.epochs} if args.epochs else {})
    return TrainConfig.model_validate(settings | overrides)


def recipe(name: str, model: str, args: argparse.Namespace) -> TrainConfig:
    """The fine-tuning settings of a profile (`quick` or `paper`) for one model."""
    params = compose(name, conf_dir=REPO / "conf")["finetune"]
    return train_config(params["train"] | params["models"].get(model, {}), args)


def check_finetune(args: argparse.Namespace, save: Save) -> None:
    data = prepared("amazon", "amazon", args)
    whole_test = prepared("amazon_all_test", "amazon", args).splits["test"]
    losses = compose(args.recipe, conf_dir=REPO / "conf")["losses"]
    runs: dict[str, Any] = {}
    results = {"recipe": args.recipe, "rows": data.rows(), "runs": runs}
    for model, encoder_dir in encoders(args).items():
        config = recipe(args.recipe, model, args)
        for loss_name in ("ce", "focal"):
            loss = build_loss(loss_name, **losses[loss_name])
            tuned = finetune(encoder_dir, data.classes, data.splits, config, loss, args.seed)
            encoded = encode_splits(tuned.tokenizer, {"test": whole_test}, config.max_length)
            logits = predict_logits(
                tuned.classifier,
                encoded["test"],
                INPUTS,
                config.eval_batch_size,
                resolve_device(config.device),
                tuned.result.precision,
                tuned.tokenizer.pad_token_id or 0,
            )
            whole = classification_metrics(logits, whole_test["label"].to_numpy(), 2)
            name = f"{model}-{loss_name}"
            runs[name] = fit_summary(tuned.result, tuned.classifier) | {
                "model": model,
                "loss": loss_name,
                f"test_{len(whole_test)}": rounded(whole),
                "samples_per_s": round(tuned.result.samples_per_s, 1),
                "train": config.model_dump(include={"lr", "epochs", "batch_size", "max_length"}),
            }
            print(f"finetune {name}: {runs[name]}", flush=True)
            save(results)
    save(results, complete=True)


# --- distillation --------------------------------------------------------------------------


def check_distill(args: argparse.Namespace, save: Save) -> None:
    """Teacher on cached features of the real AG News, then every student over `args.seeds`."""
    paper = compose("paper", conf_dir=REPO / "conf")
    teacher, students = paper["teacher"], paper["students"]
    data = prepared("agnews_test_csv", "agnews_test_csv", args)
    encoder_dir = encoders(args)["bert"]
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    texts = data.splits["test"]["text"].tolist()[:LATENCY_EXAMPLES]
    features_dir, logits_dir = args.work / "features", args.work / "logits"
    device = resolve_device(args.device)
    start = time.perf_counter()
    compute_features(
        encoder_dir,
        data.classes,
        data.splits,
        features_dir,
        teacher["max_length"],
        teacher["feature_batch_size"],
        device,
        resolve_precision(teacher["feature_precision"], device),
    )
    features_s = time.perf_counter() - start
    config = train_config(
        teacher["train"] | ({"lr": args.teacher_lr} if args.teacher_lr else {}), args
    )
    trained = train_teacher(features_dir, teacher["vdcnn"], config, build_loss("ce"), args.seed)
    write_logits(teacher_logits(trained, config), logits_dir)
    save_model(trained.model, trained.spec, tokenizer, args.work / "teacher")
    pipeline, _, _ = load_model(args.work / "teacher")  # encoder + VDCNN, as users run it
    runs = {
        "teacher": fit_summary(trained.result, pipeline)
        | {
            "trainable_parameters": count_parameters(trained.model),
            "features_seconds": round(features_s, 1),
            "cpu": text_latency(pipeline, tokenizer, texts, teacher["max_length"]),
        }
    }
    results = {
        "rows": data.rows(),
        "teacher_settings": {"max_length": teacher["max_length"], "vdcnn": teacher["vdcnn"]}
        | {"train": config.model_dump(include={"optimizer", "lr", "epochs", "batch_size"})}
        | {"seed": args.seed},
        "student_settings": {"train": students["train"], "kd": paper["kd"]},
        "seeds": args.seeds,
        "runs": runs,
    }
    save(results)
    student_config = train_config(students["train"], args)
    for arch in args.archs:
        for kd in ("none", "kd", "dist"):
            for seed in args.seeds:
                loss = build_loss(KD_LOSSES[kd], **paper["kd"][kd])
                params = students["model"].get(arch, {})
                student = train_student(
                    features_dir, logits_dir, arch, params, student_config, loss, seed
                )
                run = fit_summary(student.result, student.model) | student.result.extra
                if seed == args.seeds[0]:  # latency depends on the architecture, not the seed
                    run["cpu"] = text_latency(
                        student.model, tokenizer, texts, teacher["max_length"]
                    )
                runs[f"{arch}-{kd}/seed{seed}"] = run
                print(f"student {arch}-{kd} seed {seed}: {run}", flush=True)
                save(results)
    save(results, complete=True)


def fit_summary(result: FitResult, model: torch.nn.Module) -> dict[str, Any]:
    return {
        "test": rounded(result.test_metrics),
        "best_epoch": result.best_epoch,
        "train_seconds": round(result.train_seconds, 1),
        "device": result.device,
        "precision": result.precision,
        "parameters": count_parameters(model),
    }


def rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 4) for key, value in metrics.items()}


def machine() -> dict[str, Any]:
    info = {"python": platform.python_version(), "torch": torch.__version__}
    info["cpu"] = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    info["cpus"] = os.cpu_count()
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# --- report --------------------------------------------------------------------------------


def render_report(results: dict[str, dict]) -> str:
    lines = [
        "# Real-data figures",
        "",
        "Measured on the real files in `../shared/data` (read in place, never copied; see its",
        "README: the AG News train file there is a 2,000-row prefix, the Amazon files a 5,000-line",
        "train sample and the first 6,459 test lines), by `benchmarks/real_data.py`, which runs",
        "the stages' own functions. Generated by `python benchmarks/real_data.py report` from",
        "`reports/real_data/*.json`; each section names the command and machine behind it.",
        "The source studies' figures are theirs (SEEDS.md), on their data and models.",
        "",
    ]
    if "data" in results:
        lines += data_section(results["data"])
    for prefix, renderer in (("finetune-", finetune_section), ("distill", distill_section)):
        for name in sorted(n for n in results if n.startswith(prefix)):
            lines += renderer(results[name])
    return "\n".join(lines) + "\n"


def provenance(entry: dict[str, Any]) -> list[str]:
    """The command and machine behind a check, and how its figures were recorded if unusual."""
    info = entry["machine"]
    where = [info.get("gpu") or f"{info['cpu']}, {info['cpus']} CPUs", f"torch {info['torch']}"]
    if "seconds" in entry:
        where.append(f"{entry['seconds']:.0f} s")
    lines = [f"`{entry['command']}` ({'; '.join(where)})", ""]
    if not entry.get("complete"):
        lines += ["**Partial: the run did not finish; only the runs it finished are shown.**", ""]
    return lines + ([entry["note"], ""] if "note" in entry else [])


def data_section(entry: dict[str, Any]) -> list[str]:
    lines = ["## Data: the `files` source on the real files", "", *provenance(entry)]
    lines += [
        "| layout | raw train | raw test | dropped empty / duplicate / in test | train | val | test | train class balance |",
        "|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for name, item in entry["results"].items():
        rows = item["rows"]
        balance = ", ".join(f"{k} {v:.2f}" for k, v in item["class_balance"]["train"].items())
        dropped = (
            f"{rows['dropped_empty']} / {rows['dropped_duplicate']} / {rows['dropped_in_test']}"
        )
        lines.append(
            f"| {name} | {rows['raw_train']:,} | {rows.get('raw_test', 0):,} | {dropped} "
            f"| {rows['train']:,} | {rows['val']:,} | {rows['test']:,} | {balance} |"
        )
    return lines + [""]


def finetune_section(entry: dict[str, Any]) -> list[str]:
    results = entry["results"]
    runs = results["runs"]
    whole = next(key for key in next(iter(runs.values())) if key.startswith("test_"))
    lines = [
        f"## Fine-tuning on Amazon polarity, {results['recipe']} recipe",
        "",
        *provenance(entry),
        "Encoders: all-MiniLM-L6-v2 as `bert`, its layers 0, 2, 4 as `distilbert`, layers 0, 5",
        "as `tinybert` (the quick profile's). Train 1,600 / val 400 from the train sample; test",
        f"200 (seeded, stratified; the source's size) and the whole test prefix ({whole[5:]}).",
        "",
        f"| model | loss | acc (200) | macro-F1 (200) | acc ({whole[5:]}) | macro-F1 ({whole[5:]}) "
        "| best epoch | train s | settings | source acc (200) | source train s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for run in runs.values():
        key = (run["model"], run["loss"])
        source = SOURCE_FINETUNE.get(key)
        settings = run["train"]
        lines.append(
            f"| {run['model']} | {run['loss']} | {run['test']['accuracy']:.3f} "
            f"| {run['test']['macro_f1']:.3f} | {run[whole]['accuracy']:.3f} "
            f"| {run[whole]['macro_f1']:.3f} | {run['best_epoch']} | {run['train_seconds']:.0f} "
            f"| lr {settings['lr']}, {settings['epochs']} ep, {settings['max_length']} tokens, "
            f"{run['device']} {run['precision']} "
            f"| {f'{source:.3f}' if source else '-'} | {SOURCE_FINETUNE_SECONDS.get(key, '-')} |"
        )
    return lines + [""]


def distill_section(entry: dict[str, Any]) -> list[str]:
    results = entry["results"]
    runs, seeds = results["runs"], results["seeds"]
    taught, student = results["teacher_settings"]["train"], results["student_settings"]["train"]
    rows = results["rows"]
    lines = [
        f"## Distillation on AG News: MiniLM-VDCNN teacher (lr {taught['lr']:g}), CNN students",
        "",
        *provenance(entry),
        f"The complete test.csv split with seed 42: {rows['train']:,} train / {rows['val']:,} "
        f"val / {rows['test']:,} test. Teacher: {taught['optimizer']} lr {taught['lr']:g}, "
        f"{taught['epochs']} epochs, batch {taught['batch_size']}, on frozen features at max length "
        f"{results['teacher_settings']['max_length']}. Students: {student['optimizer']} lr "
        f"{student['lr']:g}, {student['epochs']} epochs, batch {student['batch_size']} (the paper "
        f"profile); mean +- sd over the seeds run (of {seeds}), one teacher. CPU latency: one "
        "example at a time, one thread, tokenization included.",
        "",
        "| model | seeds | test acc | macro-F1 | parameters | CPU latency ms | agreement with teacher | source acc |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    if "teacher" in runs:
        teacher = runs["teacher"]
        lines.append(
            f"| teacher (MiniLM-VDCNN d9) | {results['teacher_settings']['seed']} "
            f"| {teacher['test']['accuracy']:.4f} "
            f"| {teacher['test']['macro_f1']:.4f} | {teacher['parameters']:,} "
            f"| {teacher['cpu']['latency_ms']:.2f} | - | {SOURCE_DISTILL['teacher']:.4f} |"
        )
    groups = student_groups(runs, seeds)
    for name, group in groups.items():
        acc = np.array([run["test"]["accuracy"] for run in group.values()])
        f1 = np.array([run["test"]["macro_f1"] for run in group.values()])
        agree = np.mean([run["teacher_agreement"] for run in group.values()])
        latency = next(
            (f"{run['cpu']['latency_ms']:.2f}" for run in group.values() if "cpu" in run), "-"
        )
        source = SOURCE_DISTILL.get(name)
        lines.append(
            f"| {name} | {', '.join(map(str, group))} | {acc.mean():.4f} +- {acc.std():.4f} "
            f"| {f1.mean():.4f} | {next(iter(group.values()))['parameters']:,} | {latency} "
            f"| {agree:.3f} | {f'{source:.4f}' if source else '-'} |"
        )
    return lines + ["", *kd_verdicts(groups), ""]


def student_groups(runs: dict[str, Any], seeds: list[int]) -> dict[str, dict[int, dict]]:
    """Each student's finished runs by seed, in the order arch, then none / kd / dist."""
    order = {kd: i for i, kd in enumerate(KD_LOSSES)}
    names = sorted(
        {key.split("/")[0] for key in runs if key != "teacher"},
        key=lambda n: (n.rsplit("-", 1)[0], order[n.rsplit("-", 1)[1]]),
    )
    return {
        name: {seed: runs[f"{name}/seed{seed}"] for seed in seeds if f"{name}/seed{seed}" in runs}
        for name in names
    }


def kd_verdicts(groups: dict[str, dict[int, dict]]) -> list[str]:
    """Whether each distilled student beats its plain version on the mean over the same seeds;
    no verdict where either has fewer than three of them."""
    lines = []
    for name, group in groups.items():
        arch, kd = name.rsplit("-", 1)
        if kd == "none":
            continue
        plain = groups.get(f"{arch}-none", {})
        shared = sorted(set(group) & set(plain))
        if len(shared) < 3:
            lines.append(
                f"- {arch} with {kd}: no verdict, {len(shared)} seed(s) shared with plain {arch}."
            )
            continue
        delta = mean_accuracy(group, shared) - mean_accuracy(plain, shared)
        verdict = "beats" if delta > 0 else "does not beat"
        lines.append(
            f"- {arch} with {kd} {verdict} plain {arch} over seeds {shared}: "
            f"{delta * 100:+.2f} points."
        )
    return lines


def mean_accuracy(runs: dict[int, dict], seeds: list[int]) -> float:
    return float(np.mean([runs[seed]["test"]["accuracy"] for seed in seeds]))


def result_name(args: argparse.Namespace) -> str:
    if args.check == "finetune":
        return f"finetune-{args.recipe}"
    if args.check == "distill" and args.teacher_lr:
        return f"distill-teacher-lr{args.teacher_lr:g}"
    return args.check


CHECKS = {"data": check_data, "finetune": check_finetune, "distill": check_distill}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=[*CHECKS, "report"])
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared data folder")
    parser.add_argument("--work", type=Path, default=REPO / ".cache" / "real_data")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON results go")
    parser.add_argument("--bert", type=Path, help="a local all-MiniLM-L6-v2 directory")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--recipe", default="quick", choices=["quick", "paper"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--archs", nargs="*", default=["simple_cnn", "simpler_cnn"], help="none: teacher only"
    )
    parser.add_argument("--epochs", type=int, help="override every recipe's epochs (a dry run)")
    parser.add_argument("--teacher-lr", type=float, help="override the paper profile's 0.01")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.check == "report":
        results = {p.stem: json.loads(p.read_text()) for p in sorted(args.out.glob("*.json"))}
        write_text(REPORT, render_report(results))
        print(f"wrote {REPORT}")
        return
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    start = time.perf_counter()
    path = args.out / f"{result_name(args)}.json"
    command = "python benchmarks/real_data.py " + shlex.join(sys.argv[1:] if argv is None else argv)

    def save(results: dict[str, Any], complete: bool = False) -> None:
        """Written after every run, so a crash or a time limit keeps what was measured."""
        seconds = round(time.perf_counter() - start, 1)
        entry = {"command": command, "machine": machine(), "seconds": seconds}
        write_json(path, entry | {"complete": complete, "results": results})

    CHECKS[args.check](args, save)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

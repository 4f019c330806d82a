"""Stage student@<arch>-<kd>: train a small student, plain or distilled from cached logits."""

import shutil
from pathlib import Path

import click
from transformers import AutoTokenizer

from textdistill.config import load_params
from textdistill.data.prepare import read_prepared
from textdistill.distill import KD_LOSSES, train_student
from textdistill.errors import report_errors
from textdistill.evaluate import directory_size_mb, text_latency
from textdistill.io import read_json
from textdistill.models.store import save_model
from textdistill.results import (
    Card,
    checkpoint_dir,
    epoch_logger,
    fingerprint,
    publish,
    training_metrics,
)
from textdistill.tracking import stage_run

PathOption = click.Path(path_type=Path)


@click.command()
@click.argument("arch")
@click.argument("kd_mode")
@click.option("--features", type=PathOption, required=True, help="data/features/<dataset> (ids)")
@click.option("--logits", type=PathOption, required=True, help="data/logits/<dataset>")
@click.option(
    "--data", type=PathOption, required=True, help="data/prepared/<dataset> (latency texts)"
)
@click.option("--out", type=PathOption, required=True, help="models/students/<arch>-<kd>")
@click.option("--metrics", type=PathOption, required=True, help="metrics/students/<arch>-<kd>.json")
@click.option("--plots", type=PathOption, required=True, help="metrics/students/<arch>-<kd>/")
@click.option("--params", "params_file", default="params.yaml", show_default=True)
@report_errors
def main(
    arch: str,
    kd_mode: str,
    features: Path,
    logits: Path,
    data: Path,
    out: Path,
    metrics: Path,
    plots: Path,
    params_file: str,
) -> None:
    params = load_params(params_file)
    config = params.section("students")
    dataset = params.section("teacher").dataset  # students learn the teacher's task
    stage = f"student@{arch}-{kd_mode}"
    model_params = config.model.get(arch, {})
    seed = params.seed if config.seed is None else config.seed
    stage_params = {
        "seed": seed,
        "arch": arch,
        "kd_mode": kd_mode,
        "kd": params.kd[kd_mode],
        "model": model_params,
        "train": config.train.model_dump(),
    }
    loss = params.build_loss(KD_LOSSES[kd_mode], params.kd[kd_mode], f"kd.{kd_mode}")
    checkpoints = checkpoint_dir(stage)
    with stage_run(stage, stage_params) as run:
        trained = train_student(
            features,
            logits,
            arch,
            model_params,
            config.train,
            loss,
            seed,
            checkpoint_dir=checkpoints,
            fingerprint=fingerprint(stage_params, [features / "meta.json", logits]),
            on_epoch=epoch_logger(run),
        )
        encoder = read_json(features / "meta.json")["encoder"]
        tokenizer = AutoTokenizer.from_pretrained(encoder)
        trained.spec["clean"] = params.prepare[dataset].clean.model_dump()  # for predict
        save_model(trained.model, trained.spec, tokenizer, out)
        _, splits = read_prepared(data)
        texts = splits["test"]["text"].tolist()[: config.latency_examples]
        latency = text_latency(trained.model, tokenizer, texts, trained.spec["max_length"])
        scores = training_metrics(trained.result, trained.model, directory_size_mb(out), latency)
        facts = {
            "architecture": f"{arch} {model_params}",
            "distillation": f"{kd_mode} {params.kd[kd_mode]}",
            "training": f"{config.train.optimizer} lr {config.train.lr}, {config.train.epochs} epochs",
            "best epoch (on validation)": trained.result.best_epoch,
            "agreement with the teacher (test)": scores["teacher_agreement"],
        }
        card = Card(
            f"Student {arch}, KD {kd_mode}", facts, params.download[dataset].source == "sample"
        )
        labels, classes = trained.data["test"].labels, trained.spec["classes"]
        publish(run, trained.result, scores, card, labels, classes, out, metrics, plots)
    shutil.rmtree(checkpoints, ignore_errors=True)
    click.echo(
        f"{stage}: test accuracy {scores['test']['accuracy']:.4f} (best epoch {trained.result.best_epoch})"
    )


if __name__ == "__main__":
    main()

"""Stage teacher: train the VDCNN on cached encoder features; write the model and its logits."""

import shutil
from pathlib import Path

import click
from transformers import AutoTokenizer

from textdistill.config import load_params
from textdistill.data.prepare import read_prepared
from textdistill.distill import teacher_logits, train_teacher, write_logits
from textdistill.errors import report_errors
from textdistill.evaluate import directory_size_mb, text_latency
from textdistill.models.store import load_model, save_model
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
@click.option("--features", type=PathOption, required=True, help="data/features/<dataset>")
@click.option(
    "--data", type=PathOption, required=True, help="data/prepared/<dataset> (latency texts)"
)
@click.option("--out", type=PathOption, required=True, help="models/teacher")
@click.option("--logits", type=PathOption, required=True, help="data/logits/<dataset>")
@click.option("--metrics", type=PathOption, required=True, help="metrics/teacher.json")
@click.option("--plots", type=PathOption, required=True, help="metrics/teacher/")
@click.option("--params", "params_file", default="params.yaml", show_default=True)
@report_errors
def main(
    features: Path,
    data: Path,
    out: Path,
    logits: Path,
    metrics: Path,
    plots: Path,
    params_file: str,
) -> None:
    params = load_params(params_file)
    config = params.section("teacher")
    stage_params = {"seed": params.seed} | config.model_dump()
    checkpoints = checkpoint_dir("teacher")
    with stage_run("teacher", stage_params) as run:
        trained = train_teacher(
            features,
            config.vdcnn,
            config.train,
            params.build_loss("ce", {}, "teacher"),
            params.seed,
            checkpoint_dir=checkpoints,
            fingerprint=fingerprint(stage_params, [features]),
            on_epoch=epoch_logger(run),
        )
        write_logits(teacher_logits(trained, config.train), logits)
        tokenizer = AutoTokenizer.from_pretrained(trained.spec["encoder"])
        trained.spec["clean"] = params.prepare[config.dataset].clean.model_dump()  # for predict
        save_model(trained.model, trained.spec, tokenizer, out)
        pipeline, _, _ = load_model(out)  # encoder + VDCNN: what a user would run
        _, splits = read_prepared(data)
        texts = splits["test"]["text"].tolist()[: config.latency_examples]
        latency = text_latency(pipeline, tokenizer, texts, config.max_length)
        size = directory_size_mb(out) + directory_size_mb(Path(trained.spec["encoder"]))
        scores = training_metrics(trained.result, pipeline, size, latency)
        facts = {
            "task": f"{config.dataset} ({', '.join(trained.spec['classes'])})",
            "architecture": f"frozen {trained.spec['encoder']} + VDCNN {config.vdcnn}",
            "training": f"{config.train.optimizer} lr {config.train.lr}, {config.train.epochs} epochs",
            "best epoch (on validation)": trained.result.best_epoch,
        }
        card = Card("BERT-VDCNN teacher", facts, params.download[config.dataset].source == "sample")
        labels, classes = trained.data["test"].labels, trained.spec["classes"]
        # The teacher needs its encoder directory to run: reload it with textdistill predict.
        publish(
            run, trained.result, scores, card, labels, classes, out, metrics, plots, log_model=False
        )
    shutil.rmtree(checkpoints, ignore_errors=True)
    click.echo(
        f"teacher: test accuracy {scores['test']['accuracy']:.4f} (best epoch {trained.result.best_epoch})"
    )


if __name__ == "__main__":
    main()

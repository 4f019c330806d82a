"""Stage finetune@<model>: fine-tune a pretrained encoder on `finetune.dataset` with `loss`."""

import shutil
from pathlib import Path

import click

from textdistill.config import load_params
from textdistill.data.prepare import read_prepared
from textdistill.errors import report_errors
from textdistill.evaluate import directory_size_mb, text_latency
from textdistill.finetune import finetune
from textdistill.io import read_json, write_json
from textdistill.models.classifier import save_classifier
from textdistill.models.store import SPEC
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
@click.argument("model")
@click.option("--encoder", type=PathOption, required=True, help="models/pretrained/<model>")
@click.option("--data", type=PathOption, required=True, help="data/prepared/<dataset>")
@click.option("--out", type=PathOption, required=True, help="models/finetune/<model>")
@click.option("--metrics", type=PathOption, required=True, help="metrics/finetune/<model>.json")
@click.option("--plots", type=PathOption, required=True, help="metrics/finetune/<model>/")
@click.option("--params", "params_file", default="params.yaml", show_default=True)
@report_errors
def main(
    model: str, encoder: Path, data: Path, out: Path, metrics: Path, plots: Path, params_file: str
) -> None:
    params = load_params(params_file)
    config = params.section("finetune").train_config(model)
    dataset = params.finetune.dataset
    loss = params.build_loss(params.loss, params.losses[params.loss], f"losses.{params.loss}")
    stage = f"finetune@{model}"
    stage_params = {
        "seed": params.seed,
        "model": model,
        "dataset": dataset,
        "loss": params.loss,
        "loss_params": params.losses[params.loss],
        "train": config.model_dump(),
    }
    classes, splits = read_prepared(data)
    checkpoints = checkpoint_dir(stage)
    with stage_run(stage, stage_params) as run:
        tuned = finetune(
            encoder,
            classes,
            splits,
            config,
            loss,
            params.seed,
            checkpoint_dir=checkpoints,
            fingerprint=fingerprint(stage_params, [encoder, data]),
            on_epoch=epoch_logger(run),
        )
        texts = splits["test"]["text"].tolist()[: params.finetune.latency_examples]
        latency = text_latency(tuned.classifier, tuned.tokenizer, texts, config.max_length)
        save_classifier(tuned.classifier, tuned.tokenizer, out)
        spec = {"kind": "finetune", "classes": classes, "max_length": config.max_length}
        write_json(out / SPEC, spec | {"clean": params.prepare[dataset].clean.model_dump()})
        scores = training_metrics(tuned.result, tuned.classifier, directory_size_mb(out), latency)
        facts = {
            "task": f"{dataset} ({', '.join(classes)})",
            "base encoder": read_json(encoder / "source.json").get("id") or encoder.name,
            "loss": f"{params.loss} {params.losses[params.loss]}",
            "training": f"{config.optimizer} lr {config.lr}, {config.epochs} epochs, batch {config.batch_size}",
            "best epoch (on validation)": tuned.result.best_epoch,
            "parameters": f"{scores['model']['parameters']:,}",
        }
        card = Card(
            f"{model} fine-tuned on {dataset}", facts, params.download[dataset].source == "sample"
        )
        labels = splits["test"]["label"].to_numpy()
        publish(run, tuned.result, scores, card, labels, classes, out, metrics, plots)
    shutil.rmtree(checkpoints, ignore_errors=True)
    click.echo(
        f"{stage}: test accuracy {scores['test']['accuracy']:.4f} (best epoch {tuned.result.best_epoch})"
    )


if __name__ == "__main__":
    main()

"""Stage finetune@<model>: fine-tune a pretrained encoder on `finetune.dataset` with `loss`."""

from pathlib import Path

import click

from textdistill.config import load_params
from textdistill.errors import report_errors
from textdistill.finetune import FinetuneJob
from textdistill.lifecycle import Outputs, run_training_stage

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
    job = FinetuneJob.from_params(load_params(params_file), model, encoder, data)
    run_training_stage(job, Outputs(model=out, metrics=metrics, plots=plots))


if __name__ == "__main__":
    main()

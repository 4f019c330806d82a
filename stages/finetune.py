"""Stage finetune@<model>: fine-tune a pretrained encoder on `finetune.dataset` with `loss`."""

from pathlib import Path

import click

from textdistill.config import Params
from textdistill.finetune import FinetuneJob
from textdistill.lifecycle import PATH, training_stage


@click.command()
@click.argument("model")
@click.option("--encoder", type=PATH, required=True, help="models/pretrained/<model>")
@click.option("--data", type=PATH, required=True, help="data/prepared/<dataset>")
@training_stage("finetune/<model>")
def main(params: Params, model: str, encoder: Path, data: Path) -> FinetuneJob:
    return FinetuneJob.from_params(params, model, encoder, data)


if __name__ == "__main__":
    main()

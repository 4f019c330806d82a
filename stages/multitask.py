"""Stages multitask and multitask_single@<task>: one encoder fine-tuned on every task of
`multitask.tasks` at once (NAME `joint`), or on one task alone (NAME: the task)."""

from pathlib import Path

import click

from textdistill.config import Params
from textdistill.lifecycle import PATH, training_stage
from textdistill.multitask import MultitaskJob


@click.command()
@click.argument("name")
@click.option("--encoder", type=PATH, required=True, help="models/pretrained/<encoder>")
@click.option("--data", type=PATH, required=True, help="data/prepared (one dir per dataset)")
@training_stage("multitask/<name>")
def main(params: Params, name: str, encoder: Path, data: Path) -> MultitaskJob:
    return MultitaskJob.from_params(params, name, encoder, data)


if __name__ == "__main__":
    main()

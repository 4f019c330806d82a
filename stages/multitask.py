"""Stages multitask and multitask_single@<task>: one encoder fine-tuned on every task of
`multitask.tasks` at once (NAME `joint`), or on one task alone (NAME: the task)."""

from pathlib import Path

import click

from textdistill.config import load_params
from textdistill.errors import report_errors
from textdistill.lifecycle import Outputs, run_training_stage
from textdistill.multitask import MultitaskJob

PathOption = click.Path(path_type=Path)


@click.command()
@click.argument("name")
@click.option("--encoder", type=PathOption, required=True, help="models/pretrained/<encoder>")
@click.option("--data", type=PathOption, required=True, help="data/prepared (one dir per dataset)")
@click.option("--out", type=PathOption, required=True, help="models/multitask/<name>")
@click.option("--metrics", type=PathOption, required=True, help="metrics/multitask/<name>.json")
@click.option("--plots", type=PathOption, required=True, help="metrics/multitask/<name>/")
@click.option("--params", "params_file", default="params.yaml", show_default=True)
@report_errors
def main(
    name: str, encoder: Path, data: Path, out: Path, metrics: Path, plots: Path, params_file: str
) -> None:
    job = MultitaskJob.from_params(load_params(params_file), name, encoder, data)
    run_training_stage(job, Outputs(model=out, metrics=metrics, plots=plots))


if __name__ == "__main__":
    main()

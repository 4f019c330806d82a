"""Stage teacher: train the VDCNN on cached encoder features (its logits: stage teacher_logits)."""

from pathlib import Path

import click

from textdistill.config import Params
from textdistill.distill import TeacherJob
from textdistill.lifecycle import PATH, training_stage


@click.command()
@click.option("--features", type=PATH, required=True, help="data/features/<dataset>")
@click.option("--data", type=PATH, required=True, help="data/prepared/<dataset> (latency)")
@training_stage("teacher")
def main(params: Params, features: Path, data: Path) -> TeacherJob:
    return TeacherJob.from_params(params, features, data)


if __name__ == "__main__":
    main()

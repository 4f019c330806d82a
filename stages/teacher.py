"""Stage teacher: train the VDCNN on cached encoder features (its logits: stage teacher_logits)."""

from pathlib import Path

import click

from textdistill.config import load_params
from textdistill.distill import TeacherJob
from textdistill.errors import report_errors
from textdistill.lifecycle import Outputs, run_training_stage

PathOption = click.Path(path_type=Path)


@click.command()
@click.option("--features", type=PathOption, required=True, help="data/features/<dataset>")
@click.option("--data", type=PathOption, required=True, help="data/prepared/<dataset> (latency)")
@click.option("--out", type=PathOption, required=True, help="models/teacher")
@click.option("--metrics", type=PathOption, required=True, help="metrics/teacher.json")
@click.option("--plots", type=PathOption, required=True, help="metrics/teacher/")
@click.option("--params", "params_file", default="params.yaml", show_default=True)
@report_errors
def main(
    features: Path,
    data: Path,
    out: Path,
    metrics: Path,
    plots: Path,
    params_file: str,
) -> None:
    job = TeacherJob.from_params(load_params(params_file), features, data)
    run_training_stage(job, Outputs(model=out, metrics=metrics, plots=plots))


if __name__ == "__main__":
    main()

"""Stage student@<arch>-<kd>: train a small student, plain or distilled from cached logits."""

from pathlib import Path

import click

from textdistill.config import load_params
from textdistill.distill import StudentJob
from textdistill.errors import report_errors
from textdistill.lifecycle import Outputs, run_training_stage

PathOption = click.Path(path_type=Path)


@click.command()
@click.argument("arch")
@click.argument("kd_mode")
@click.option("--transfer", type=PathOption, required=True, help="data/transfer/<dataset>")
@click.option("--logits", type=PathOption, required=True, help="data/logits/<dataset>")
@click.option("--data", type=PathOption, required=True, help="data/prepared/<dataset> (latency)")
@click.option("--out", type=PathOption, required=True, help="models/students/<arch>-<kd>")
@click.option("--metrics", type=PathOption, required=True, help="metrics/students/<arch>-<kd>.json")
@click.option("--plots", type=PathOption, required=True, help="metrics/students/<arch>-<kd>/")
@click.option("--params", "params_file", default="params.yaml", show_default=True)
@report_errors
def main(
    arch: str,
    kd_mode: str,
    transfer: Path,
    logits: Path,
    data: Path,
    out: Path,
    metrics: Path,
    plots: Path,
    params_file: str,
) -> None:
    params = load_params(params_file)
    job = StudentJob.from_params(
        params, arch, kd_mode, transfer_dir=transfer, logits_dir=logits, data_dir=data
    )
    run_training_stage(job, Outputs(model=out, metrics=metrics, plots=plots))


if __name__ == "__main__":
    main()

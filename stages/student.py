"""Stage student@<arch>-<kd>: train a small student, plain or distilled from cached logits."""

from pathlib import Path

import click

from textdistill.config import Params
from textdistill.distill import StudentJob
from textdistill.lifecycle import PATH, training_stage


@click.command()
@click.argument("arch")
@click.argument("kd_mode")
@click.option("--transfer", type=PATH, required=True, help="data/transfer/<dataset>")
@click.option("--logits", type=PATH, required=True, help="data/logits/<dataset>")
@click.option("--data", type=PATH, required=True, help="data/prepared/<dataset> (latency)")
@training_stage("students/<arch>-<kd>")
def main(
    params: Params, arch: str, kd_mode: str, transfer: Path, logits: Path, data: Path
) -> StudentJob:
    return StudentJob.from_params(
        params, arch, kd_mode, transfer_dir=transfer, logits_dir=logits, data_dir=data
    )


if __name__ == "__main__":
    main()

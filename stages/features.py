"""Stage features: run the frozen teacher encoder once over the teacher dataset; cache it."""

from pathlib import Path

import click

from textdistill.config import load_params
from textdistill.data.prepare import read_prepared
from textdistill.devices import claimed_gpu
from textdistill.errors import report_errors
from textdistill.features import compute_features
from textdistill.train import resolve_device, resolve_precision

PathOption = click.Path(path_type=Path)


@click.command()
@click.option(
    "--encoder", type=PathOption, required=True, help="models/pretrained/<teacher.encoder>"
)
@click.option("--data", type=PathOption, required=True, help="data/prepared/<teacher.dataset>")
@click.option("--out", type=PathOption, required=True, help="data/features/<teacher.dataset>")
@click.option("--params", "params_file", default="params.yaml", show_default=True)
@report_errors
def main(encoder: Path, data: Path, out: Path, params_file: str) -> None:
    config = load_params(params_file).teacher_config()
    classes, splits = read_prepared(data)
    with claimed_gpu(config.train.device):  # one GPU per process when experiments run side by side
        device = resolve_device(config.train.device)
        precision = resolve_precision(config.feature_precision, device)
        meta = compute_features(
            encoder,
            classes,
            splits,
            out,
            config.max_length,
            config.feature_batch_size,
            device,
            precision,
        )
    click.echo(
        f"features: {meta['rows']} x {config.max_length} x {meta['hidden_size']} (float16) in {out}"
    )


if __name__ == "__main__":
    main()

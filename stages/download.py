"""Stage download@<dataset>: write the dataset's raw files (original format) and a manifest."""

from pathlib import Path

import click

from textdistill.config import load_params
from textdistill.data.sources import download
from textdistill.errors import report_errors


@click.command()
@click.argument("dataset")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="data/raw/<dataset>")
@click.option("--params", "params_file", default="params.yaml", show_default=True)
@report_errors
def main(dataset: str, out: Path, params_file: str) -> None:
    params = load_params(params_file)
    manifest = download(params.download_config(dataset), out, dataset)
    for part, entry in manifest["files"].items():
        click.echo(f"{dataset} {part}: {entry['rows']:,} rows from {entry['origin']}")


if __name__ == "__main__":
    main()

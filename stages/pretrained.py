"""Stage pretrained@<name>: resolve an encoder (hub, local, package, derive) into a directory."""

from pathlib import Path

import click

from textdistill.config import load_params
from textdistill.errors import report_errors
from textdistill.models.pretrained import materialize_named


@click.command()
@click.argument("name")
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="models/pretrained/<name>"
)
@click.option("--params", "params_file", default="params.yaml", show_default=True)
@report_errors
def main(name: str, out: Path, params_file: str) -> None:
    params = load_params(params_file)
    params.encoder_spec(name)  # a clear error for an unknown name
    source = materialize_named(name, params.pretrained, out)
    click.echo(
        f"{name}: {source['model_type']}, {source['num_hidden_layers']} layers, {source['parameters']:,} parameters"
    )


if __name__ == "__main__":
    main()

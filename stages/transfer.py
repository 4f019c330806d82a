"""Stage transfer: the students' transfer set (labelled rows, unlabelled texts, augmented
copies) and their token ids, built once per teacher dataset."""

from pathlib import Path

import click

from textdistill.config import load_params
from textdistill.errors import report_errors
from textdistill.io import stage_outputs, write_json
from textdistill.teaching import build_students_data

PathOption = click.Path(path_type=Path)


@click.command()
@click.option("--data", type=PathOption, required=True, help="data/prepared/<teacher.dataset>")
@click.option(
    "--encoder", type=PathOption, required=True, help="models/pretrained/<teacher.encoder>"
)
@click.option("--out", type=PathOption, required=True, help="data/transfer/<teacher.dataset>")
@click.option("--metrics", type=PathOption, required=True, help="metrics/transfer.json")
@click.option("--params", "params_file", default="params.yaml", show_default=True)
@report_errors
def main(data: Path, encoder: Path, out: Path, metrics: Path, params_file: str) -> None:
    params = load_params(params_file)
    clean = params.prepare_config(params.teacher_config().dataset).clean
    max_length = params.students_max_length()
    with stage_outputs("transfer", {"out": out, "metrics": metrics}) as staged:
        figures = build_students_data(
            data, encoder, params.transfer_config(), clean, max_length, staged["out"]
        )
        write_json(staged["metrics"], figures)
    click.echo(
        f"transfer: {figures['rows']} rows ({figures['labelled']} labelled) in {out}, "
        f"{figures['seconds']} s"
    )


if __name__ == "__main__":
    main()

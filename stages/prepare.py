"""Stage prepare@<dataset>: clean, de-duplicate, split and validate; write metrics and a report."""

from pathlib import Path

import click

from textdistill.config import load_params
from textdistill.data.prepare import data_warnings, prepare, report, write_prepared
from textdistill.errors import report_errors
from textdistill.io import stage_outputs, write_json, write_text
from textdistill.tracking import stage_run

PathOption = click.Path(path_type=Path)


@click.command()
@click.argument("dataset")
@click.option("--raw", type=PathOption, required=True, help="data/raw/<dataset>")
@click.option("--out", type=PathOption, required=True, help="data/prepared/<dataset>")
@click.option("--metrics", type=PathOption, required=True, help="metrics/data/<dataset>.json")
@click.option(
    "--report", "report_path", type=PathOption, required=True, help="reports/data/<dataset>.md"
)
@click.option("--params", "params_file", default="params.yaml", show_default=True)
@report_errors
def main(
    dataset: str, raw: Path, out: Path, metrics: Path, report_path: Path, params_file: str
) -> None:
    params = load_params(params_file)
    config = params.prepare_config(dataset)
    stage = f"prepare@{dataset}"
    stage_params = {"dataset": dataset, "prepare": config.model_dump()}
    targets = {"data": out, "metrics": metrics, "report": report_path}
    # All three outputs, or none. MLflow is logged to before they are swapped in, so a
    # tracking failure leaves the old outputs as they were.
    with stage_run(stage, stage_params) as run, stage_outputs(stage, targets) as staged:
        data = prepare(raw, config)
        for warning in data_warnings(data):
            click.echo(f"warning: {dataset}: {warning}", err=True)
        write_prepared(data, staged["data"])
        write_json(staged["metrics"], data.metrics())
        write_text(staged["report"], report(dataset, data, config.clean.pattern))
        run.log_metrics(data.metrics())
        run.log_artifact(staged["metrics"], name=metrics.name)
        run.log_artifact(staged["report"], name=report_path.name)
    rows = ", ".join(f"{name} {len(frame):,}" for name, frame in data.splits.items())
    click.echo(f"{dataset}: {rows} ({data.counts})")


if __name__ == "__main__":
    main()

"""Stage evaluate: every model's metrics in one leaderboard, summary metrics, plot data, an SVG."""

from pathlib import Path

import click

from textdistill.config import load_params
from textdistill.errors import report_errors
from textdistill.io import atomic_path, write_json, write_text
from textdistill.leaderboard import (
    accuracy_svg,
    leaderboard,
    multitask_rows,
    pipeline_entries,
    render,
    render_multitask,
    summary,
)

PathOption = click.Path(path_type=Path)


@click.command()
@click.option("--finetune", "finetune_dir", type=PathOption, required=True, help="metrics/finetune")
@click.option("--teacher", type=PathOption, required=True, help="metrics/teacher.json")
@click.option("--students", type=PathOption, required=True, help="metrics/students")
@click.option(
    "--teacher-logits",
    type=PathOption,
    required=True,
    help="metrics/teacher_logits.json (an ensemble teacher's scores and cost)",
)
@click.option("--multitask", type=PathOption, required=True, help="metrics/multitask")
@click.option(
    "--summary", "summary_path", type=PathOption, required=True, help="metrics/summary.json"
)
@click.option("--table", type=PathOption, required=True, help="metrics/leaderboard.csv")
@click.option("--report", type=PathOption, required=True, help="reports/leaderboard.md")
@click.option(
    "--svg", type=PathOption, required=True, help="reports/leaderboard_accuracy_latency.svg"
)
@click.option("--params", "params_file", default="params.yaml", show_default=True)
@report_errors
def main(
    finetune_dir: Path,
    teacher: Path,
    students: Path,
    teacher_logits: Path,
    multitask: Path,
    summary_path: Path,
    table: Path,
    report: Path,
    svg: Path,
    params_file: str,
) -> None:
    params = load_params(params_file)
    entries = pipeline_entries(params, finetune_dir, teacher, students, teacher_logits)
    board = leaderboard(entries)
    smoke = {entry.task: params.is_sample(entry.task) for entry in entries}
    tasks = multitask_rows(params, multitask)
    metrics = summary(board)
    if tasks:  # {multitask: {task: {joint, single}}}, for `dvc metrics diff`
        metrics["multitask"] = {
            r["task"]: {"joint": r["joint"], "single": r["single"]} for r in tasks
        }
    write_json(summary_path, metrics)
    with atomic_path(table) as tmp:
        board.to_csv(tmp, index=False)
    text = render(board, smoke) + render_multitask(tasks)
    write_text(report, text)
    write_text(svg, accuracy_svg(board))
    click.echo(text)


if __name__ == "__main__":
    main()

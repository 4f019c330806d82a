"""Stage teacher_logits: the chosen teacher (`students.teacher`: one model, or the ensemble of the
finetune branch) run once, without gradients, over the transfer set and the validation and
test texts; the students read these logits. Its metrics hold the teacher's own test scores, and
for an ensemble what it costs (parameters, latency), so the leaderboard can show it."""

from pathlib import Path

import click

from textdistill.config import load_params
from textdistill.devices import claimed_gpu
from textdistill.errors import report_errors
from textdistill.io import read_json, stage_outputs, write_json
from textdistill.teaching import (
    META,
    compute_teacher_logits,
    ensemble_cost,
    teacher_scores,
    teacher_texts,
    write_logits,
)
from textdistill.train import resolve_device, resolve_precision

PathOption = click.Path(path_type=Path)


@click.command()
@click.option(
    "--teacher",
    type=PathOption,
    required=True,
    help="students.teacher: models/teacher, models/finetune/<m> or models/finetune (ensemble)",
)
@click.option("--transfer", type=PathOption, required=True, help="data/transfer/<dataset>")
@click.option("--data", type=PathOption, required=True, help="data/prepared/<dataset>")
@click.option("--out", type=PathOption, required=True, help="data/logits/<dataset>")
@click.option("--metrics", type=PathOption, required=True, help="metrics/teacher_logits.json")
@click.option("--params", "params_file", default="params.yaml", show_default=True)
@report_errors
def main(
    teacher: Path, transfer: Path, data: Path, out: Path, metrics: Path, params_file: str
) -> None:
    params = load_params(params_file)
    config = params.teacher_config()  # the teacher's inference settings
    ensemble = params.teacher_ensemble()  # [] for one teacher
    members = [teacher / name for name in ensemble] or [teacher]
    classes = read_json(transfer / META)["classes"]
    texts = teacher_texts(transfer, data)
    with claimed_gpu(config.train.device):  # one GPU per process when experiments run side by side
        device = resolve_device(config.train.device)
        precision = resolve_precision(config.feature_precision, device)
        logits, figures = compute_teacher_logits(
            members, texts, config.feature_batch_size, device, precision, classes
        )
    figures |= teacher_scores(logits, data, classes)
    if ensemble:  # one teacher's cost is in its own metrics; an ensemble (even of one) has none
        figures |= ensemble_cost(members, texts["test"][: config.latency_examples])
    with stage_outputs("teacher_logits", {"out": out, "metrics": metrics}) as staged:
        write_logits(logits, staged["out"])
        write_json(staged["metrics"], figures)
    click.echo(
        f"teacher_logits: {teacher} on {figures['rows']} texts in {figures['seconds']} s "
        f"({figures['texts_per_s']} texts/s, {device.type} {precision}); "
        f"its test accuracy {figures['test']['accuracy']:.4f}"
    )


if __name__ == "__main__":
    main()

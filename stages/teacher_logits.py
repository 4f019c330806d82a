"""Stage teacher_logits: the chosen teacher (`students.teacher`) run once, without gradients,
over the transfer set and the validation and test texts; the students read these logits."""

from pathlib import Path

import click

from textdistill.config import load_params
from textdistill.devices import claimed_gpu
from textdistill.errors import report_errors
from textdistill.io import read_json, stage_outputs, write_json
from textdistill.teaching import META, compute_teacher_logits, teacher_texts, write_logits
from textdistill.train import resolve_device, resolve_precision

PathOption = click.Path(path_type=Path)


@click.command()
@click.option(
    "--teacher", type=PathOption, required=True, help="models/teacher or models/finetune/<m>"
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
    config = load_params(params_file).teacher_config()  # the teacher's inference settings
    classes = read_json(transfer / META)["classes"]
    texts = teacher_texts(transfer, data)
    with claimed_gpu(config.train.device):  # one GPU per process when experiments run side by side
        device = resolve_device(config.train.device)
        precision = resolve_precision(config.feature_precision, device)
        logits, figures = compute_teacher_logits(
            teacher, texts, config.feature_batch_size, device, precision, classes
        )
    with stage_outputs("teacher_logits", {"out": out, "metrics": metrics}) as staged:
        write_logits(logits, staged["out"])
        write_json(staged["metrics"], figures)
    click.echo(
        f"teacher_logits: {teacher} on {figures['rows']} texts in {figures['seconds']} s "
        f"({figures['texts_per_s']} texts/s, {device.type} {precision})"
    )


if __name__ == "__main__":
    main()

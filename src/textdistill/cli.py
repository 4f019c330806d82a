"""The `textdistill` command: classify text with a trained model, describe a model.

Errors a user causes end on one line, `Error: ...`, exit status 1 (click's 2 for a wrong
command line); bugs keep their traceback; `textdistill --debug ...` or `TEXTDISTILL_DEBUG=1`
shows the traceback of any error (see errors.py).
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from textdistill.errors import DEBUG_ENV, TextdistillError, debug_enabled, user_message

_DEBUG = "textdistill.debug"  # in the context's meta: --debug was given


class _UserErrorsGroup(click.Group):
    """Every subcommand's user errors become one line, the same way, whichever command raised.

    Commands need not catch anything themselves: a `TextdistillError` or an OS error a user can
    fix (read-only directory, full disk, missing file, symlink loop) becomes a
    `click.ClickException`; anything else is a bug and keeps its traceback. A closed pipe
    (`textdistill predict ... | head`) is not re-raised as one of these: click's own
    handling ends it quietly with status 1.
    """

    def invoke(self, ctx: click.Context) -> Any:
        debug = ctx.meta.get(_DEBUG, False) or debug_enabled()
        try:
            return super().invoke(ctx)
        except click.ClickException as error:
            if debug and error.__context__ is not None:
                traceback.print_exception(error.__context__)  # e.g. a text that is not UTF-8
            raise
        except TextdistillError as error:  # always one line; --debug adds where it came from
            if debug:
                traceback.print_exception(error)
            raise click.ClickException(str(error)) from None
        except OSError as error:
            message = user_message(error)
            if message is None or debug:
                raise
            raise click.ClickException(message) from None


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    ctx.meta[_DEBUG] = value  # not os.environ: a test's invocation must not leak into the next
    return value


@click.group(cls=_UserErrorsGroup)
@click.version_option(package_name="textdistill")
@click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_debug,
    help=f"Show the full traceback of any error (or set {DEBUG_ENV}=1).",
)
def main() -> None:
    """textdistill: fine-tuned and distilled text classifiers (see README.md)."""


@main.command()
@click.option(
    "--model",
    "model_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="A trained model directory: models/finetune/<m>, models/teacher, models/students/<s> "
    "or models/multitask/<m>.",
)
@click.option(
    "--task",
    default=None,
    help="The task of a multitask model to run (required when it has several).",
)
@click.option(
    "--pair",
    "pairs",
    multiple=True,
    nargs=2,
    metavar="TEXT_A TEXT_B",
    help="A sentence pair, for a task on pairs (repeatable).",
)
@click.option(
    "--file",
    "file_",
    type=click.File("rb"),
    help="Run on each line of a file ('-': stdin); for a pair task, two tab-separated texts a "
    "line (TEXT_A<TAB>TEXT_B).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per input, with every class's probability or the regression value.",
)
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@click.argument("texts", nargs=-1)
def predict(
    model_dir: Path,
    task: str | None,
    pairs: tuple[tuple[str, str], ...],
    file_,
    as_json: bool,
    batch_size: int,
    texts: tuple[str, ...],
) -> None:
    """Classify TEXTS (or score them, for a regression task), the sentence pairs of --pair, the
    lines of --file, or the lines of stdin."""
    from textdistill.predict import Predictor, ValuePrediction, read_pair_lines, read_text_lines

    inputs = _utf8_arguments(texts)
    pair_inputs = [(a, b) for a, b in pairs]
    _utf8_arguments(tuple(text for pair in pair_inputs for text in pair), "--pair text")
    if file_ is None and not inputs and not pairs and sys.stdin.isatty():
        raise click.UsageError(
            "give a text, --pair TEXT_A TEXT_B, --file PATH, or pipe lines to stdin"
        )
    predictor = Predictor(model_dir)  # errors: _UserErrorsGroup
    info = predictor.task(task)
    if inputs:
        predictor.check_inputs(info, pairs=False)
    if pair_inputs:
        predictor.check_inputs(info, pairs=True)
    if file_ is not None or not (inputs or pair_inputs):
        stream, name = (
            (file_, getattr(file_, "name", "<file>"))
            if file_ is not None
            else (sys.stdin.buffer, "<stdin>")
        )
        if info.task.pair:  # two tab-separated texts a line
            pair_inputs += read_pair_lines(stream, name)
        else:
            inputs += read_text_lines(stream, name)
    if not inputs and not pair_inputs:
        raise click.UsageError("nothing to predict: no non-empty text given")
    results = (
        predictor.predict_pairs(pair_inputs, batch_size, task)
        if info.task.pair
        else predictor.predict(inputs, batch_size, task)
    )
    for result in results:
        if result.empty:
            shown = (
                repr(result.text)
                if result.text_pair is None
                else f"a text of the pair ({result.text!r}, {result.text_pair!r})"
            )
            output = "value" if isinstance(result, ValuePrediction) else "label"
            click.echo(
                f"warning: {shown} is empty after the model's cleaning: its {output} says "
                "nothing about it",
                err=True,
            )
        click.echo(
            json.dumps(result.to_json(), ensure_ascii=False) if as_json else result.to_line()
        )


def _utf8_arguments(texts: tuple[str, ...], what: str = "text argument") -> list[str]:
    """The command-line texts, refusing bytes that are not UTF-8.

    Python hands such bytes over as lone surrogates, which the tokenizer cannot encode: a
    traceback deep in the model, instead of the argument and the byte.
    """
    for number, text in enumerate(texts, start=1):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            byte = text[error.start].encode("utf-8", "surrogateescape")
            raise click.ClickException(
                f"{what} {number} is not UTF-8 (character {error.start + 1} is the byte "
                f"{byte!r}); pass UTF-8 text (convert it with iconv -t UTF-8)"
            ) from None
    return list(texts)


@main.command()
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("dvc_plots"), show_default=True
)
def plots(out: Path) -> None:
    """Render the pipeline's plots (dvc plots show) into a page that works offline."""
    from textdistill.plots import show

    page = show(out)
    click.echo(f"plots: file://{page.resolve()}")


@main.command()
@click.option("--profile", default="real", show_default=True, help="The profile's experiments.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Markdown report [default: reports/<profile>_data.md, e.g. reports/real_data.md].",
)
@click.option(
    "--all-commits/--head-only",
    default=True,
    show_default=True,
    help="Experiments of every commit, or only those based on HEAD.",
)
def report(profile: str, out: Path | None, all_commits: bool) -> None:
    """Render a profile's results over seeds from its DVC experiments (dvc exp show)."""
    from textdistill.report import write_report

    out = out or Path("reports") / f"{profile}_data.md"
    write_report(profile, out, all_commits=all_commits)
    click.echo(f"wrote {out}")


@main.command()
@click.argument("model_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
def info(model_dir: Path) -> None:
    """Describe a trained model directory (its model.json and model card)."""
    spec = model_dir / "model.json"
    if not spec.is_file():
        raise click.ClickException(f"{model_dir} is not a textdistill model (no model.json)")
    click.echo(spec.read_text(encoding="utf-8"))
    card = model_dir / "README.md"
    if card.is_file():
        click.echo(card.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()

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
    help="A trained model directory: models/finetune/<m>, models/teacher or models/students/<s>.",
)
@click.option(
    "--file",
    "file_",
    type=click.File("rb"),
    help="Classify each line of a file ('-': stdin).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per text, with every class's probability.",
)
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@click.argument("texts", nargs=-1)
def predict(model_dir: Path, file_, as_json: bool, batch_size: int, texts: tuple[str, ...]) -> None:
    """Classify TEXTS, the lines of --file, or the lines of stdin."""
    from textdistill.predict import Predictor, read_text_lines

    inputs = _utf8_arguments(texts)
    if file_ is None and not inputs and sys.stdin.isatty():
        raise click.UsageError("give a text, --file PATH, or pipe lines to stdin")
    if file_ is not None:
        inputs += read_text_lines(file_, getattr(file_, "name", "<file>"))
    elif not inputs:
        inputs = read_text_lines(sys.stdin.buffer, "<stdin>")
    if not inputs:
        raise click.UsageError("nothing to classify: no non-empty text given")
    predictions = Predictor(model_dir).predict(inputs, batch_size)  # errors: _UserErrorsGroup
    for prediction in predictions:
        if prediction.empty:
            click.echo(
                f"warning: {prediction.text!r} is empty after the model's cleaning: its label "
                "says nothing about it",
                err=True,
            )
        if as_json:
            click.echo(json.dumps(prediction.__dict__, ensure_ascii=False))
        else:
            click.echo(f"{prediction.label}\t{prediction.probability:.4f}\t{prediction.text}")


def _utf8_arguments(texts: tuple[str, ...]) -> list[str]:
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
                f"text argument {number} is not UTF-8 (character {error.start + 1} is the byte "
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
    results = write_report(profile, out, all_commits=all_commits)
    click.echo(f"{out}: {len(results)} models")


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

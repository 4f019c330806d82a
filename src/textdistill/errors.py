"""Errors a user can act on, and how stages report them.

Every expected failure (bad raw data, bad params, a missing file) raises a `TextdistillError`.
Stage scripts wrap their `main()` in `report_errors`, which prints the message without a
traceback and exits with status 2, so a failed `dvc repro` ends on one readable screen.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

# Enough rows to see the pattern, few enough to fit on one screen.
MAX_PROBLEMS_SHOWN = 20

F = TypeVar("F", bound=Callable[..., Any])


class TextdistillError(Exception):
    """An error caused by the user's input or configuration, not by a bug."""


class ParamsError(TextdistillError):
    """params.yaml (or a -S override) has an unknown key, a wrong type or a bad value."""


@dataclass(frozen=True)
class Problem:
    """One offending place in an input: where it is, what was there, what was expected."""

    file: str
    line: int | None
    column: str | None
    value: object
    expected: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        column = f" column {self.column!r}:" if self.column else ""
        return f"{where}:{column} got {_short(self.value)}, expected {self.expected}"


class DataError(TextdistillError):
    """Input data failed to parse or validate; lists every offending row (up to a screen)."""

    def __init__(self, summary: str, problems: Sequence[Problem] = ()) -> None:
        self.summary = summary
        self.problems = list(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        if not self.problems:
            return self.summary
        lines = [f"{self.summary} ({len(self.problems)} problem(s)):"]
        lines += [f"  {p}" for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        hidden = len(self.problems) - MAX_PROBLEMS_SHOWN
        if hidden > 0:
            lines.append(f"  ... and {hidden} more")
        return "\n".join(lines)


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def report_errors(main: F) -> F:
    """Decorate a stage's entry point: user errors print cleanly and exit 2, bugs still trace."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except TextdistillError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]

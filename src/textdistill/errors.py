"""Errors a user can act on, and how stages report them.

Every expected failure (bad raw data, bad params, a missing file) raises a `TextdistillError`.
Stage scripts wrap their `main()` in `report_errors`, which prints the message without a
traceback and exits with status 2, so a failed `dvc repro` ends on one readable screen. The
machine's refusals a user can fix (a read-only directory, a full disk, a missing file, a
symlink loop) are reported the same way, naming the path. Bugs keep their traceback, and
`TEXTDISTILL_DEBUG=1` shows the traceback of any error.

The `textdistill` command (cli.py) reports the same errors the same way, as click does:
`Error: ...` and status 1 (2 for a wrong command line); `textdistill --debug ...` or
`TEXTDISTILL_DEBUG=1` shows the traceback there too.
"""

from __future__ import annotations

import errno
import functools
import os
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
    """Input data failed to parse or validate; lists every offending row (up to a screen),
    then a `hint` (what to do about them) if one is given."""

    def __init__(self, summary: str, problems: Sequence[Problem] = (), hint: str = "") -> None:
        self.summary = summary
        self.problems = list(problems)
        self.hint = hint
        super().__init__(self._render())

    def with_hint(self, hint: str) -> DataError:
        """The same error with `hint` as its last line."""
        return DataError(self.summary, self.problems, hint)

    def _render(self) -> str:
        if not self.problems:
            return "\n".join(line for line in (self.summary, self.hint) if line)
        lines = [f"{self.summary} ({len(self.problems)} problem(s)):"]
        lines += [f"  {p}" for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        hidden = len(self.problems) - MAX_PROBLEMS_SHOWN
        if hidden > 0:
            lines.append(f"  ... and {hidden} more")
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


DEBUG_ENV = "TEXTDISTILL_DEBUG"  # set to 1: every error with its traceback

# The OS errors a user causes and can fix, and what to do about each.
OS_ADVICE = {
    errno.EACCES: "permission denied: make it writable (or readable) for this user",
    errno.EPERM: "operation not permitted: check the path's owner and permissions",
    errno.EROFS: "the file system is read-only: write the outputs elsewhere",
    errno.ENOSPC: "no space left on the device: free some disk space and rerun",
    errno.EDQUOT: "disk quota exceeded: free some space and rerun",
    errno.ENOENT: "no such file or directory",
    errno.ELOOP: "too many levels of symbolic links (a symlink loop?)",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.EISDIR: "a directory where a file was expected",
    errno.ENOTDIR: "a file where a directory was expected",
    # mkdir(exist_ok=True) on a file, or on a broken or looping symlink, where a directory
    # must go: the one way this code meets EEXIST.
    errno.EEXIST: "exists, but is not a directory (a file, or a broken or looping symlink?)",
}


def debug_enabled() -> bool:
    """Whether tracebacks were asked for: TEXTDISTILL_DEBUG set to anything but 0/false/no."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def user_message(error: BaseException) -> str | None:
    """The one-screen message for an error the user caused; None for a bug (let it trace)."""
    if isinstance(error, TextdistillError):
        return str(error)
    if isinstance(error, OSError):
        return describe_os_error(error)
    return None


def _os_errno(error: OSError) -> int | None:
    # Some libraries (pyarrow writing parquet, for one) raise a bare OSError whose text holds
    # the OS's message but whose errno is unset: a full disk is still a full disk.
    if error.errno is not None:
        return error.errno
    text = str(error)
    return next((code for code in OS_ADVICE if os.strerror(code) in text), None)


def describe_os_error(error: OSError) -> str | None:
    """One line for an OS error a user can fix (None: not one of those; let it trace)."""
    advice = OS_ADVICE.get(_os_errno(error) or -1)
    if advice is None:
        return None
    paths = [p for p in (error.filename, error.filename2) if p is not None]
    where = " -> ".join(str(p) for p in paths) or str(error)  # the library's text names it
    return f"{where}: {advice}"


def report_errors(main: F) -> F:
    """Decorate a stage's entry point: user errors print cleanly and exit 2, bugs still trace."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except (TextdistillError, OSError) as error:
            message = user_message(error)
            if message is None or debug_enabled():
                raise  # a bug, or the traceback was asked for
            print(f"error: {message}", file=sys.stderr)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]

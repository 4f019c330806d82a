"""Errors a user causes end on one screen; bugs keep their traceback; debug shows it all."""

from __future__ import annotations

import errno

import pytest

from textdistill.errors import DEBUG_ENV, ParamsError, report_errors


def failing(error: BaseException):
    @report_errors
    def main() -> None:
        raise error

    return main


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        (errno.ENOSPC, "no space left"),
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "read-only"),
        (errno.ELOOP, "symbolic links"),
    ],
)
def test_an_os_error_a_user_can_fix_is_one_line_naming_the_path(
    code: int, advice: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        failing(OSError(code, "os text", "metrics/teacher.json"))()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: metrics/teacher.json: ") and advice in err
    assert len(err.splitlines()) == 1


def test_a_bug_keeps_its_traceback() -> None:
    with pytest.raises(KeyError):
        failing(KeyError("bug"))()
    with pytest.raises(OSError):  # an OS error users cannot cause (I/O error): trace it
        failing(OSError(errno.EIO, "I/O error", "x"))()


def test_debug_shows_the_traceback_of_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(ParamsError):
        failing(ParamsError("params.yaml: bad"))()

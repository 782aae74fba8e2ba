"""guardedStdout: a lost stdout is told apart from every other OSError of a run (issue 21)."""

from __future__ import annotations

import errno
import io
import sys

import pytest

from lecture31._runtime.stdout import StdoutLost, flushStdout, guardedStdout


class _FailingStream(io.StringIO):
    """A stdout whose writes fail with ``code`` (what /dev/full or a closed pipe does)."""

    def __init__(self, code: int) -> None:
        super().__init__()
        self.code = code

    def write(self, text: str) -> int:
        raise OSError(self.code, f"fake {errno.errorcode[self.code]}")


@pytest.mark.parametrize(("code", "closed"), [(errno.ENOSPC, False), (errno.EPIPE, True)])
def test_a_failed_write_to_stdout_is_stdout_lost(monkeypatch, code, closed):
    stream = _FailingStream(code)
    monkeypatch.setattr(sys, "stdout", stream)
    with pytest.raises(StdoutLost) as lost, guardedStdout():
        print("a table")
    assert lost.value.closed is closed
    assert lost.value.error.errno == code
    assert str(lost.value) == f"cannot write to stdout: fake {errno.errorcode[code]}"
    assert sys.stdout is stream  # restored


def test_an_oserror_that_is_not_about_stdout_passes_unchanged(capsys):
    error = FileNotFoundError(errno.ENOENT, "No such file", "run.json")
    with pytest.raises(FileNotFoundError) as raised, guardedStdout():
        print("fine")
        raise error
    assert raised.value is error
    assert capsys.readouterr().out == "fine\n"


def test_a_flush_that_fails_is_stdout_lost_too(monkeypatch):
    class FailingFlush(io.StringIO):
        def flush(self) -> None:
            raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(sys, "stdout", FailingFlush())
    with pytest.raises(StdoutLost, match="Input/output error"), guardedStdout():
        flushStdout()

"""Exit statuses and the one path every user mistake takes to the terminal.

A user mistake is either ours to word (a :class:`BundleoptError`: a bad file, an option
out of range) or click's (a missing argument, an unknown option, a bad choice, a value
one of our param types refused). Both end here as an :class:`ErrorLine`: one ``error:``
line on stderr naming the file or the option, and exit status 2 — never click's
three-line usage block, never a traceback.
"""
from __future__ import annotations

from typing import IO, Any, Callable

import click
from click.exceptions import NoArgsIsHelpError

from formulations.errors import BundleoptError

EXIT_OK, EXIT_NO_PLAN, EXIT_BAD_INPUT = 0, 1, 2


class ErrorLine(click.ClickException):
    """A user mistake as click carries it out of ``main``: ``show`` prints the one line."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(" ".join(message.split()))     # one line, whatever came in
        self.exit_code = exit_code

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def usage_line(err: click.ClickException) -> str:
    """click's own message, first letter lower-cased like ours, and where to look (a
    refused value says what is wrong with it; a missing or unknown one points to help)."""
    text = err.format_message()
    if text[:1].isupper() and text[1:2].islower():
        text = text[0].lower() + text[1:]
    ctx = getattr(err, "ctx", None)
    bad_value = isinstance(err, click.BadParameter) and not isinstance(err, click.MissingParameter)
    if isinstance(err, click.UsageError) and ctx is not None and not bad_value:
        text += f" (see '{ctx.command_path} --help')"
    return text


def as_error_line(err: Exception) -> ErrorLine | None:
    """The :class:`ErrorLine` for a user mistake, ``None`` for anything else (our bug, or
    a bare group, whose help click prints)."""
    if isinstance(err, ErrorLine) or isinstance(err, NoArgsIsHelpError):
        return None
    if isinstance(err, BundleoptError):
        return ErrorLine(str(err), err.exit_code)
    if isinstance(err, click.ClickException):
        return ErrorLine(usage_line(err))
    return None


def run_with_user_errors(call: Callable[[], Any]) -> Any:
    """Run ``call``; a user mistake leaves as an :class:`ErrorLine` (printed by click)."""
    try:
        return call()
    except (BundleoptError, click.ClickException) as err:
        line = as_error_line(err)
        if line is None:
            raise
        raise line from None

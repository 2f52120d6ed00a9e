"""Exit statuses and the one path every user mistake takes to the terminal."""
from __future__ import annotations

from typing import Any, Callable

import click

from formulations.errors import BundleoptError

EXIT_OK, EXIT_NO_PLAN, EXIT_BAD_INPUT = 0, 1, 2


def run_with_user_errors(ctx: click.Context, call: Callable[[], Any]) -> Any:
    """Run ``call``; a :class:`BundleoptError` becomes one ``error:`` line and its exit code."""
    try:
        return call()
    except BundleoptError as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(err.exit_code)

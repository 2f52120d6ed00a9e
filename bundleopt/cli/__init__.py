"""The ``bundleopt`` command line: a thin shell over the solve engine and the applications.

Every command lives in a module of this package and is imported only when it is used, so
that ``bundleopt solve`` does not pay for FastAPI, SQLAlchemy, scikit-learn or Plotly.
User mistakes — click's usage errors included — end as one ``error:`` line and exit
status 2 (:mod:`.errors`); exit status 1 means "no plan" and nothing else.
"""
from __future__ import annotations

import time

# --time-limit counts from here: loading counts too, and so do the imports below (0.5 s:
# formulations, pandas, numpy), which a re-plan run by the service pays within its limit
_STARTED = time.monotonic()

import importlib  # noqa: E402
from typing import Any  # noqa: E402

import click  # noqa: E402

from .errors import run_with_user_errors  # noqa: E402

#: command name -> (module of this package, attribute)
COMMANDS = {
    "solve": ("solve", "solve"),
    "check": ("solve", "check"),
    "export": ("solve", "export"),
    "fit": ("fit", "fit"),
    "simulate-data": ("fit", "simulate_data"),
    "serve": ("service", "serve"),
    "plan": ("service", "plan"),
    "worker": ("worker", "worker"),
    "report": ("report", "report"),
    "sweep": ("study", "sweep"),
    "explain": ("study", "explain"),
    "robustness": ("study", "robustness"),
}


def started() -> float:
    """When the running command started (``time.monotonic``): --time-limit counts from it."""
    return _STARTED


class _Group(click.Group):
    """Loads the commands on first use; turns every user error into one line and exit 2.

    Both ways a mistake can leave pass through here: this group's own arguments are
    parsed in ``make_context`` and everything else (a command's arguments and its run) in
    ``invoke``; click's ``main`` then shows the :class:`~.errors.ErrorLine` and exits.
    """

    _invoked = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)

    def main(self, *args, **kwargs):
        # --time-limit counts from the command's start. A process's first command started
        # when this module was imported (imports and loading count); a later one in the
        # same process (tests, notebooks) starts now, not when the module was imported.
        global _STARTED
        if _Group._invoked:
            _STARTED = time.monotonic()
        _Group._invoked = True
        return super().main(*args, **kwargs)

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        return run_with_user_errors(
            lambda: super(_Group, self).make_context(info_name, args, parent, **extra))

    def invoke(self, ctx: click.Context) -> Any:
        return run_with_user_errors(lambda: super(_Group, self).invoke(ctx))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bundleopt")
def main() -> None:
    """Decide which bundles to sell, to whom, and at what price.

    \b
    Typical week:
      bundleopt fit DATA_DIR --out SCENARIO_DIR     learn segments and willingness to pay
      bundleopt solve SCENARIO_DIR --out OUT_DIR    pick offers and prices (plan.csv)
      bundleopt serve                               run the solver service
    """

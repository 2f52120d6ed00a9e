"""``python -m solver.service serve|plan run ...`` — the service commands without the CLI."""
from __future__ import annotations

import click

from .cli import plan, serve


@click.group()
def main() -> None:
    """bundleopt service commands."""


main.add_command(serve)
main.add_command(plan)

if __name__ == "__main__":
    main()

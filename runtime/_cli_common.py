"""What every `kinetic` subcommand shares: how a failure reaches the operator."""

from __future__ import annotations

import sys
from typing import NoReturn

import click


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `kinetic: message` on stderr and exit with `code` (2: usage or config error)."""
    click.echo(f"kinetic: {message}", err=True)
    sys.exit(code)

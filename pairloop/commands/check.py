"""``pairloop check``: the store's integrity check; exit 1 when it finds anything."""

from __future__ import annotations

import typer
from rich.table import Table

from pairloop.commands.options import JsonOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.store import check_store


def check(as_json: bool = JsonOpt) -> None:
    """Check the store: rows pointing at rows that are gone, rounds stuck in a state no command
    leaves, registered snapshots whose files fail their manifest. Exit 1 when anything is found."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = check_store(ctx)
    if as_json:
        emit_json(result)
    elif result.ok:
        console.print(f"store ok ({len(result.checks)} checks)")
    else:
        table = Table("check", "found", "first of them", title="pairloop store: problems")
        for problem in result.problems:
            table.add_row(problem.check, f"{problem.count:,}", "\n".join(problem.examples))
        console.print(table)
    if not result.ok:
        raise typer.Exit(1)

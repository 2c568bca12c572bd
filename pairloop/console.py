"""Terminal output shared by every command: errors, JSON, tables, progress bars.

:class:`RichProgress` is how the CLI watches a use case (:mod:`pairloop.usecases.progress`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def emit_json(data: Any) -> None:
    """``--json`` output: a use case's result model as the API would send it, or plain data."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    elif isinstance(data, list) and data and isinstance(data[0], BaseModel):
        data = [row.model_dump(mode="json") for row in data]
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (so ``--json`` stdout stays clean); yields ``advance(n)``."""
    from rich.progress import (  # loaded with the first bar, not with every command
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=err_console) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


class RichProgress:
    """The CLI's :class:`~pairloop.usecases.progress.Progress`: bars and spinners on stderr."""

    def task(self, description: str, total: int | None = None):
        return progress_bar(description, total)

    @contextmanager
    def status(self, message: str) -> Iterator[Callable[[str], None]]:
        with err_console.status(message) as shown:
            yield lambda text: shown.update(text)


RICH_PROGRESS = RichProgress()

"""Errors the store raises that callers turn into clear messages and exit codes."""

from __future__ import annotations

from pathlib import Path


class BadInput(Exception):
    """Input the user must fix (exit code 2). Names the file and line when there is one."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = message
        where = self.path or ""
        if where and line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}" if where else message)


class StoreUnavailable(Exception):
    """The database cannot be reached or opened."""

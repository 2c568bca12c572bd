"""The project's one error hierarchy: every error a user can meet, with its exit code and HTTP status.

It lives in the bottom layer so that the code that finds a fault raises the right kind
(a file parser a :class:`BadInput`, the Label Studio adapter a :class:`ServiceUnavailable`)
and no layer above has to translate. The CLI maps :class:`PairloopError` to ``exit_code``
once (``pairloop/cli.py``), the API to ``http_status`` once (``pairloop/api/main.py``).
"""

from __future__ import annotations

import re
from pathlib import Path


class PairloopError(Exception):
    """Any failure pairloop reports to a user as one clear line (never a traceback)."""

    exit_code = 1
    http_status = 500

    def with_hint(self, hint: str) -> PairloopError:
        """The same kind of error, its message followed by what the user can do about it."""
        return type(self)(f"{self}\n{hint}")


class BadInput(PairloopError):
    """Input the user must fix. Names the file and line when there is one."""

    exit_code = 2
    http_status = 422

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = message
        where = self.path or ""
        if where and line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}" if where else message)


class NotFound(PairloopError):
    """What was asked for does not exist (a round, a snapshot, a classifier version)."""

    exit_code = 2
    http_status = 404


class Conflict(PairloopError):
    """The request is valid but the state does not allow it (closing a closed round)."""

    exit_code = 2
    http_status = 409


class ServiceUnavailable(PairloopError):
    """A service pairloop depends on cannot be reached: the database, Label Studio, the LLM.

    Work done before the failure is kept; running the same command again resumes it.
    """

    exit_code = 1
    http_status = 503


class ServiceFailed(PairloopError):
    """A service answered, but with an error pairloop cannot work around."""

    exit_code = 1
    http_status = 502


class StoreUnavailable(ServiceUnavailable):
    """The database cannot be reached or opened."""


class SchemaOutdated(ServiceUnavailable):
    """The database exists but is behind the code's migrations (`pairloop init` upgrades it)."""


def first_line(exc: BaseException) -> str:
    """An exception's first line of text (terminal colours removed), or its type's name: what a
    third-party error contributes to one of ours."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__

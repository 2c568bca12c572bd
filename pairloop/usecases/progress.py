"""How long-running use cases report progress without knowing who watches.

The CLI renders a :class:`Progress` with Rich (``pairloop/console.py``); the service passes
:data:`SILENT` or :class:`LoggedProgress`. No use case imports a terminal library.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

Advance = Callable[[int], None]
Say = Callable[[str], None]


class Progress(Protocol):
    def task(self, description: str, total: int | None = None) -> AbstractContextManager[Advance]:
        """A unit of work with a known or unknown size; yields ``advance(n)``."""
        ...

    def status(self, message: str) -> AbstractContextManager[Say]:
        """Work without steps to count (loading a model); yields ``update(message)``."""
        ...


class SilentProgress:
    """Reports nothing: for the service and for tests."""

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Advance]:
        yield lambda _n=1: None

    @contextmanager
    def status(self, message: str) -> Iterator[Say]:
        yield lambda _message: None


class LoggedProgress:
    """One log line when a piece of work ends, with its size and duration."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Advance]:
        done = 0

        def advance(n: int = 1) -> None:
            nonlocal done
            done += n

        started = time.monotonic()
        yield advance
        self.logger.info("%s: %d done in %.1f s", description, done, time.monotonic() - started)

    @contextmanager
    def status(self, message: str) -> Iterator[Say]:
        started = time.monotonic()
        yield lambda _message: None
        self.logger.info("%s: %.1f s", message, time.monotonic() - started)


SILENT = SilentProgress()

"""Locks between processes on one machine: an exclusive ``flock`` on a file.

The kernel releases the lock when its holder exits, however it exits (SIGKILL included), so
a lock is never left held by a dead process. The lock file itself stays (removing it while
another process waits on it would let a third one take a lock on a new file): it is empty.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created when missing) for the block; waits for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock

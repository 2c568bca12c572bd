"""Files written whole or not at all: a reader never sees half a file, a crash leaves none."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A staging path beside ``path`` (same folder, same suffix) to write a file or a folder to;
    renamed onto ``path`` when the block ends without an error, removed otherwise. A folder
    cannot replace an existing one: then the rename raises ``OSError``."""
    staging = _staging(path)
    try:
        yield staging
        os.replace(staging, path)
    finally:
        _remove(staging)


@contextmanager
def atomic_open(path: Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """``open(path, mode)`` that publishes the file only once it is complete."""
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as staging, open(staging, mode, **kwargs) as stream:
        yield stream


def write_text_atomic(path: Path, text: str) -> Path:
    with atomic_open(path) as stream:
        stream.write(text)
    return path


def write_together(writers: Mapping[Path, Callable[[Path], object]]) -> list[Path]:
    """Write several files that belong together (a report's JSON and its PNG): each writer
    fills a staging path; the files are published only when every writer has succeeded."""
    staged: dict[Path, Path] = {}
    try:
        for target, write in writers.items():
            staged[target] = _staging(target)
            write(staged[target])
        for target, staging in staged.items():
            os.replace(staging, target)
    finally:
        for staging in staged.values():
            _remove(staging)
    return list(writers)


def _staging(path: Path) -> Path:
    """A hidden, unique name beside ``path`` that keeps its suffix (plotting libraries read it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.part{path.suffix}")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)

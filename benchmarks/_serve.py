"""Start ``pairloop serve`` in its own process and wait until it answers ``/health``."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx


def start_serve(env: Mapping[str, str], port: int, timeout_s: float = 60.0) -> subprocess.Popen:
    """``pairloop serve`` with ``env`` (its ``PAIRLOOP_*`` settings), answering on ``port``;
    a process that exits or does not answer in ``timeout_s`` is reported with its stderr."""
    process = subprocess.Popen([str(Path(sys.executable).parent / "pairloop"), "serve"], env=dict(env),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"pairloop serve did not start: {process.communicate(timeout=10)[1][-2000:]}")

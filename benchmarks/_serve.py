"""Start ``pairloop serve`` in its own process and wait until it answers ``/health``; free ports."""

from __future__ import annotations

import socket
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
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"pairloop serve did not start: {process.communicate(timeout=10)[1][-2000:]}")


def free_port() -> int:
    """A TCP port nothing listens on now, on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

"""The Ray cluster named by ``PAIRLOOP_RAY_ADDRESS``: connect once per command, or not at all.

Unset, nothing here runs and Ray is never imported: every command works in its own process.
``local`` starts a Ray instance on this machine for one command; any other address joins an
existing cluster, whose workers may sit on other machines and so must share the store:
a SQLite file is refused there (PostgreSQL is the shared store). A cluster that cannot be
reached is one error line after ``PAIRLOOP_RAY_CONNECT_TIMEOUT_S``, never a hang.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pairloop.settings import Settings
from store.errors import BadInput, ServiceUnavailable, first_line

LOCAL = "local"


@dataclass(frozen=True)
class RayCluster:
    """What the driver joined, and whether this call joined it (then its owner leaves it:
    :func:`disconnect`); a process already joined (a test, an embedding program) keeps its link."""

    address: str
    joined_here: bool


def check_store(settings: Settings) -> None:
    """A cluster beyond this machine cannot share a SQLite file: refuse before any work starts."""
    address = settings.ray_address
    if address and address != LOCAL and settings.db_url.startswith("sqlite"):
        raise BadInput(
            f"PAIRLOOP_RAY_ADDRESS={address} runs work on a Ray cluster whose nodes cannot share a SQLite file: "
            "point PAIRLOOP_DATABASE_URL at PostgreSQL (postgresql+psycopg://user@host:5432/db), "
            "or use PAIRLOOP_RAY_ADDRESS=local"
        )


def connect(settings: Settings) -> RayCluster:
    """Join (or, for ``local``, start) the configured cluster; once per process."""
    address = settings.ray_address
    if not address:
        raise BadInput("PAIRLOOP_RAY_ADDRESS is not set: there is no Ray cluster to use")
    check_store(settings)
    try:
        import ray
    except ImportError:
        raise BadInput("PAIRLOOP_RAY_ADDRESS is set but Ray is not installed: pip install 'pairloop[ray]'") from None
    if ray.is_initialized():
        return RayCluster(address=address, joined_here=False)
    started_here = address == LOCAL
    if not started_here and address != "auto":
        _probe(address, settings.ray_connect_timeout_s)
    # Ray's own logs and Ray Data's progress bars would interleave with pairloop's bars.
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # the C++ core's retries, line after line
    options = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False,
               "configure_logging": True}
    try:
        if started_here:
            ray.init(address="local", **options)
        else:
            _init_within(ray, address, settings.ray_connect_timeout_s, options)
    except (ConnectionError, TimeoutError, RuntimeError) as exc:
        raise ServiceUnavailable(f"cannot join the Ray cluster at {address}: {first_line(exc)}") from None
    _quiet_ray_data()
    return RayCluster(address=address, joined_here=True)


def disconnect() -> None:
    """Leave the cluster (a ``local`` instance stops with it); nothing when Ray never loaded."""
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def _init_within(ray: Any, address: str, timeout_s: float, options: dict[str, Any]) -> None:
    """``ray.init`` with a deadline: a port that accepts connections but is no Ray head (a wrong
    port, a wedged head) makes Ray retry for ever, so the join runs in a thread the driver stops
    waiting for."""
    outcome: list[BaseException | None] = []

    def join() -> None:
        try:
            ray.init(address=address, **options)
            outcome.append(None)
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=join, name="ray-join", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not outcome:
        raise TimeoutError(f"no answer within {timeout_s:g} s (PAIRLOOP_RAY_CONNECT_TIMEOUT_S): is it a Ray head?")
    if outcome[0] is not None:
        raise outcome[0]


def _probe(address: str, timeout_s: float) -> None:
    """Fail fast when nothing listens at the address (``ray.init`` would retry for minutes)."""
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    host, port = parts.hostname, parts.port or 6379
    if not host:
        raise BadInput(f"PAIRLOOP_RAY_ADDRESS={address!r} is not an address: use local, auto, host:6379 "
                       "or ray://host:10001")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ServiceUnavailable(
            f"cannot reach the Ray cluster at {address} within {timeout_s:g} s ({exc.strerror or exc}); "
            "is it running? (`ray start --head`, or unset PAIRLOOP_RAY_ADDRESS to run in this process)"
        ) from None


def _quiet_ray_data() -> None:
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)

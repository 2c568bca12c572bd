"""``PAIRLOOP_RAY_ADDRESS`` through the CLI: ``round start`` on a real two-node Ray cluster selects
what it selects in one process; a SQLite file with a remote cluster is refused naming PostgreSQL;
``local`` with SQLite works; a cluster nobody runs is one error line, quickly; a driver killed
while the cluster scores leaves the store consistent, and the rerun selects as one process does.

No Label Studio runs here: ``round start`` selects and records the round, then fails to push it
(exit 1, "the round keeps its state"). The selection, stored before the push, is what is compared.
"""

from __future__ import annotations

import csv
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select
from support.ray_cluster import worker_pids
from support.service import free_port

from active_learning.rounds import MAX_CANDIDATES
from pairloop.sample.catalogue import SampleFiles, write_sample
from pairloop.settings import get_settings
from store.db import make_engine
from store.models import Round, RoundPair

NO_STUDIO = "no Label Studio configured"


@pytest.fixture
def sample(tmp_path) -> SampleFiles:
    return write_sample(tmp_path / "sample")


def _big_pool(catalogue: Path, out: Path) -> Path:
    """All pairs among the first items of the catalogue: more than round start's shortlist limit."""
    with catalogue.open(newline="", encoding="utf-8") as handle:
        keys = [row["external_id"] for row in csv.DictReader(handle)]
    n = next(n for n in range(2, len(keys)) if n * (n - 1) // 2 > MAX_CANDIDATES + 1_000)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_a", "item_b"])
        writer.writerows(itertools.combinations(keys[:n], 2))
    return out


def _stock(cli, sample, tmp_path: Path) -> None:
    cli("import", "items", sample.catalogue)
    cli("import", "labels", sample.seed_labels)
    cli("import", "pairs", _big_pool(sample.catalogue, tmp_path / "pool.csv"))
    cli("train", "--members", 3)


def _use(monkeypatch, **variables: str | None) -> None:
    for name, value in variables.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def _rounds(url: str) -> list[tuple[str, dict, list[tuple[int, int, float]]]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rounds = conn.execute(select(Round.id, Round.strategy, Round.metrics).order_by(Round.id)).all()
        found = [(r.strategy, r.metrics, [tuple(p) for p in conn.execute(
            select(RoundPair.pair_id, RoundPair.rank, RoundPair.score)
            .where(RoundPair.round_id == r.id).order_by(RoundPair.rank)).all()]) for r in rounds]
    engine.dispose()
    return found


@contextmanager
def _pg_copy(admin_url: str, url: str) -> Iterator[str]:
    """A copy of a PostgreSQL database (made from it as a template, once nothing holds it open),
    dropped afterwards."""
    import psycopg

    source, name = url.rsplit("/", 1)[1], f"pairloop_test_{uuid.uuid4().hex[:12]}"
    admin = admin_url.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (source,))
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.ray
@pytest.mark.postgres
@pytest.mark.parametrize("empty_db_url", ["postgresql"], indirect=True)
def test_a_driver_killed_while_the_cluster_scores_leaves_a_round_the_rerun_completes(
        cli, db_url, postgres_server, ray_cluster, sample, tmp_path, monkeypatch):
    """`round start` SIGKILLed once the cluster's scoring actors run: no half-written round; the
    rerun selects (or resumes) the very round one process selects."""
    _stock(cli, sample, tmp_path)
    with _pg_copy(postgres_server, db_url) as copy_url:
        _use(monkeypatch, PAIRLOOP_RAY_ADDRESS=None, PAIRLOOP_DATABASE_URL=copy_url)
        cli("round", "start", "--llm", "none", "--size", 15, "--seed", 4, expect=1)
        [(_, _, reference)] = _rounds(copy_url)
    env = {**os.environ, "PAIRLOOP_DATABASE_URL": db_url, "PAIRLOOP_DATA_DIR": str(tmp_path / "data"),
           "PAIRLOOP_RAY_ADDRESS": ray_cluster.address, "PAIRLOOP_RAY_BLOCK_PAIRS": "1000"}
    command = [str(Path(sys.executable).parent / "pairloop"), "round", "start", "--llm", "none", "--size", "15",
               "--seed", "4"]
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while (not worker_pids("_BlockScorer", ray_cluster.address) and driver.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.05)
    assert driver.poll() is None, "round start ended before its scoring actors were seen"
    driver.send_signal(signal.SIGKILL)
    driver.communicate()
    killed = _rounds(db_url)
    assert all(len(pairs) == 15 for _, _, pairs in killed) and len(killed) <= 1  # nothing half-written
    _use(monkeypatch, PAIRLOOP_RAY_ADDRESS=ray_cluster.address, PAIRLOOP_DATABASE_URL=db_url)
    cli("round", "start", "--llm", "none", "--size", 15, "--seed", 4, expect=1)  # selects, or resumes
    [(_, metrics, pairs)] = _rounds(db_url)
    assert pairs == reference and metrics["scored_on"] == f"ray:{ray_cluster.address}"


@pytest.mark.ray
@pytest.mark.postgres
@pytest.mark.parametrize("empty_db_url", ["postgresql"], indirect=True)
def test_round_start_on_ray_selects_as_in_process(cli, db_url, postgres_server, ray_cluster, sample, tmp_path,
                                                  monkeypatch):
    _stock(cli, sample, tmp_path)
    with _pg_copy(postgres_server, db_url) as copy_url:
        _use(monkeypatch, PAIRLOOP_RAY_ADDRESS=ray_cluster.address, PAIRLOOP_RAY_BLOCK_PAIRS="5000")
        on_ray = cli("round", "start", "--llm", "none", "--size", 15, "--seed", 4, expect=1)
        assert NO_STUDIO in on_ray.stderr and "keeps its state" in on_ray.stderr
        _use(monkeypatch, PAIRLOOP_RAY_ADDRESS=None, PAIRLOOP_DATABASE_URL=copy_url)
        cli("round", "start", "--llm", "none", "--size", 15, "--seed", 4, expect=1)
        [(_, ray_metrics, ray_pairs)] = _rounds(db_url)
        [(_, here_metrics, here_pairs)] = _rounds(copy_url)
    assert ray_pairs == here_pairs and len(here_pairs) == 15
    assert ray_metrics.pop("scored_on") == f"ray:{ray_cluster.address}"
    assert here_metrics.pop("scored_on") == "in-process"
    assert ray_metrics == here_metrics and here_metrics["candidates"] == MAX_CANDIDATES < here_metrics["pool"]


def test_a_sqlite_file_with_a_remote_cluster_is_refused_naming_postgresql(sqlite_cli, monkeypatch):
    _use(monkeypatch, PAIRLOOP_RAY_ADDRESS="10.0.0.7:6379")
    result = sqlite_cli("round", "start", "--llm", "none", expect=2)
    assert "PostgreSQL" in result.stderr and "10.0.0.7:6379" in result.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("empty_db_url", ["postgresql"], indirect=True)
def test_a_cluster_nobody_runs_is_one_error_line_within_the_timeout(cli, monkeypatch):
    address = f"127.0.0.1:{free_port()}"
    _use(monkeypatch, PAIRLOOP_RAY_ADDRESS=address, PAIRLOOP_RAY_CONNECT_TIMEOUT_S="3")
    started = time.monotonic()
    result = cli("round", "start", "--llm", "none", expect=1)
    assert time.monotonic() - started < 3 + 10  # the timeout, plus importing Ray on a busy machine
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"cannot reach the Ray cluster at {address}" in lines[0], result.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("empty_db_url", ["postgresql"], indirect=True)
def test_a_port_that_answers_no_ray_is_one_error_line_within_the_timeout(db_url, tmp_path):
    """A wrong port or a wedged head accepts the connection and never answers: Ray would retry for
    ever. In a process of its own: the join it gives up on is left behind in that process."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.extend(iter(lambda: listener.accept()[0], None)), daemon=True).start()
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    env = {**os.environ, "PAIRLOOP_DATABASE_URL": db_url, "PAIRLOOP_DATA_DIR": str(tmp_path / "data"),
           "PAIRLOOP_RAY_ADDRESS": address, "PAIRLOOP_RAY_CONNECT_TIMEOUT_S": "3"}
    started = time.monotonic()
    result = subprocess.run([str(Path(sys.executable).parent / "pairloop"), "round", "start", "--llm", "none"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - started < 3 + 20  # the timeout, plus starting pairloop and Ray on a busy machine
    assert result.returncode == 1 and accepted, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"cannot join the Ray cluster at {address}: no answer within 3 s" in lines[0], lines
    listener.close()


@pytest.mark.ray
def test_local_ray_with_sqlite_works(sqlite_cli, sample, tmp_path):
    """``local`` starts a Ray instance for the command (beside the session's cluster) and scores there.
    In a process of its own, as a user runs it: the instance starts and stops with the command."""
    _stock(sqlite_cli, sample, tmp_path)
    settings = get_settings()
    env = {**os.environ, "PAIRLOOP_DATABASE_URL": settings.db_url, "PAIRLOOP_DATA_DIR": str(settings.data_path),
           "PAIRLOOP_RAY_ADDRESS": "local", "PAIRLOOP_RAY_BLOCK_PAIRS": "10000"}
    result = subprocess.run([str(Path(sys.executable).parent / "pairloop"), "round", "start", "--llm", "none",
                             "--size", "5"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and NO_STUDIO in result.stderr, result.stderr
    [(_, metrics, pairs)] = _rounds(settings.db_url)
    assert metrics["scored_on"] == "ray:local" and len(pairs) == 5

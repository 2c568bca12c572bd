"""Commands at once on one store, on SQLite and PostgreSQL: first use racing, a lock held too long."""

from __future__ import annotations

import json
import multiprocessing
import random
import sqlite3
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from sqlalchemy import text
from support.integrity import assert_sound, seed_pushed_round
from support.processes import run_together
from support.service import WEBHOOK_SECRET, delivery, labels, service_settings, wait_processed

import migrations
from annotator.annotations import answer_result
from annotator.webhooks import SECRET_HEADER
from pairloop.server import ServiceThread
from pairloop.settings import Settings
from pairloop.store_access import open_store
from store.db import make_engine
from tests.conftest import Cli

RACERS = 8


def _schema(db_url: str) -> list[str]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    finally:
        engine.dispose()


def _open_at_once(settings: Settings, start, failures) -> None:
    start.wait()
    try:
        open_store(settings).dispose()
    except Exception:  # noqa: BLE001 - reported to the test, which shows it
        failures.put(traceback.format_exc())


@pytest.mark.slow
def test_commands_started_together_on_a_fresh_database_create_its_schema_once(empty_db_url, tmp_path):
    """Before the migration lock, one of them failed with `table … already exists` (SQLite) or a
    duplicate pg_type key (PostgreSQL), exit 1 with a traceback."""
    commands = [["init", "--json"], ["stats", "--json"]] * 3
    finished = run_together(commands, empty_db_url, tmp_path / "data")
    for done in finished:
        assert (done.returncode, "Traceback" in done.stderr) == (0, False), (done.args, done.stderr)
        json.loads(done.stdout)
    head = migrations.head_revision()
    assert {json.loads(d.stdout)["revision"] for d in finished if d.args[0] == "init"} == {head}
    assert _schema(empty_db_url) == [head]


def test_many_processes_opening_a_fresh_store_at_once_all_succeed(empty_db_url, tmp_path):
    """The same race, cheaper: forked processes (the modules already imported) released by one
    barrier into the code every command opens the store with."""
    fork = multiprocessing.get_context("fork")
    start, failures = fork.Barrier(RACERS), fork.Queue()
    settings = Settings(database_url=empty_db_url, data_dir=tmp_path / "data")
    racers = [fork.Process(target=_open_at_once, args=(settings, start, failures)) for _ in range(RACERS)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(120)
    reports = [failures.get() for _ in range(failures.qsize())]
    assert reports == [] and [r.exitcode for r in racers] == [0] * RACERS, reports[:1]
    assert _schema(empty_db_url) == [migrations.head_revision()]


def _hold_write_lock(db_url: str):
    """Another connection holding the lock a write needs: SQLite's write lock, or an exclusive
    lock on the items table (PostgreSQL). The caller commits it to let go."""
    if db_url.startswith("sqlite"):
        holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        return holder
    holder = psycopg.connect(db_url.replace("+psycopg", ""))
    holder.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
    return holder


def test_a_lock_held_longer_than_the_wait_is_a_clear_busy_error(db_url, tmp_path, monkeypatch):
    """Before, SQLite waited 30 s whatever the URL said and then printed sqlite3's
    `database is locked` traceback (exit 1); PostgreSQL's lock timeout did the same."""
    impatient = db_url + ("?timeout=0.3" if db_url.startswith("sqlite") else "?options=-c%20lock_timeout%3D300")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("item_a,item_b,relation\nA,B,complementary\n", encoding="utf-8")
    cli = Cli(impatient, tmp_path / "data", monkeypatch)
    holder = _hold_write_lock(db_url)
    try:
        result = cli("import", "labels", pairs, expect=1)
    finally:
        holder.rollback()
        holder.close()
    assert isinstance(result.exception, SystemExit), result.exception
    message = result.stderr.strip().splitlines()[-1]  # after the progress bar
    assert message.startswith("error: the database is busy") and "retry" in message
    assert "Traceback" not in result.stderr
    cli("import", "labels", pairs)  # the lock gone, the same command goes through


def test_one_annotation_delivered_at_once_in_many_states_is_stored_once_each(db_url, engine, tmp_path):
    """20 states of one annotation, each delivered 4 times, posted by 16 threads released together
    to the running service: every state is stored once, and the labels only move forward."""
    round_id, (pair,) = seed_pushed_round(db_url, 1)
    states = [(f"2026-01-01T10:00:{s:02d}.000001Z", ("complementary", "substitute", "unrelated")[s % 3])
              for s in range(20)]
    bodies = [delivery("ANNOTATION_UPDATED", 77, when, task_id=1, pair_id=pair, round_id=round_id,
                       result=answer_result(relation)) for when, relation in states] * 4
    random.Random(17).shuffle(bodies)
    start = threading.Barrier(16)
    with ServiceThread(service_settings(db_url, tmp_path / "data")) as service, \
            httpx.Client(base_url=service.url, headers={SECRET_HEADER: WEBHOOK_SECRET}, timeout=30) as client:

        def post(part: list[dict]) -> list[int]:
            start.wait()
            return [client.post("/webhooks/label-studio", json=body).status_code for body in part]

        with ThreadPoolExecutor(16) as pool:
            codes = [code for part in pool.map(post, [bodies[i::16] for i in range(16)]) for code in part]
        assert codes == [200] * len(bodies)
        assert wait_processed(engine, len(states)) == len(states)
    keys = [row.external_key for row in labels(engine)]
    assert keys == sorted(set(keys)) and keys[-1].endswith(states[-1][0])
    assert labels(engine)[-1].relation == states[-1][1]
    assert_sound(engine)

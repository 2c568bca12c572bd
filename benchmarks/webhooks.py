"""Webhook load: 200 requests/s for 30 s on loopback against ``pairloop serve``.

An open-loop generator (each request leaves at its scheduled time, latency counted from
that time, so a slow server cannot hide its queue) posts ANNOTATION_CREATED deliveries of
Label Studio's size and shape, each a distinct annotation. Baseline in the same run: the
same rate against the same server's ``GET /health`` (one database read, no write). Each load
follows a 2 s warm-up that is not timed. After the load, the events and labels in the store
are counted: every delivery, warm-up included, must be there.
Goal: webhook p99 < 50 ms, 0 events lost. SQLite, and PostgreSQL when it is reachable.

    .venv/bin/python -m benchmarks.webhooks [--rate 200] [--seconds 30] [--database both]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

import migrations
from annotator.annotations import answer_result
from annotator.interface import ItemView, item_fields, label_config
from annotator.webhooks import SECRET_HEADER
from benchmarks._postgres import create_database, drop_database
from benchmarks._serve import free_port, start_serve
from store.db import make_engine
from store.models import Label, Round, RoundPair, WebhookEvent
from store.repository import ensure_pairs, item_ids, upsert_items

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SECRET = "bench-secret"
N_PAIRS = 200
MAX_CONNECTIONS = 64
WARM_UP_S = 2.0
ITEM_FIELDS = item_fields(ItemView("a"), ItemView("b"))  # task data as pairloop pushes it


def _seed(url: str) -> tuple[int, list[int]]:
    migrations.upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        upsert_items(conn, [{"source": "bench", "external_id": f"i{i}", "title": f"item {i}",
                             "category_path": None, "description": None, "image_url": None,
                             "attributes": None} for i in range(2 * N_PAIRS)])
        ids = item_ids(conn, "bench", (f"i{i}" for i in range(2 * N_PAIRS)))
        pair_ids = list(ensure_pairs(conn, [(ids[f"i{2 * i}"], ids[f"i{2 * i + 1}"])
                                            for i in range(N_PAIRS)]).values())
        round_id = conn.execute(Round.__table__.insert().returning(Round.id),
                                {"strategy": "bench", "params": {}, "seed": 0}).scalar_one()
        conn.execute(RoundPair.__table__.insert(), [
            {"round_id": round_id, "pair_id": p, "rank": r, "score": 0.5} for r, p in enumerate(pair_ids)])
    engine.dispose()
    return round_id, pair_ids


def _bodies(n: int, round_id: int, pair_ids: list[int]) -> list[bytes]:
    """``n`` distinct ANNOTATION_CREATED deliveries, sized like Label Studio's (~7 KB: it
    sends the whole project, label config included)."""
    project = {"id": 1, "title": "round", "label_config": label_config(), "model_version": "llm@v1",
               "maximum_annotations": 3, "task_number": N_PAIRS, "description": ""}
    relations = ("complementary", "substitute", "unrelated")
    bodies = []
    for i in range(n):
        task_id = i % N_PAIRS + 1
        stamp = f"2026-01-01T10:{i // 6000 % 60:02d}:{i // 100 % 60:02d}.{i:06d}Z"
        bodies.append(json.dumps({
            "action": "ANNOTATION_CREATED", "project": project,
            "task": {"id": task_id, "data": {"pair_id": pair_ids[i % N_PAIRS], "round_id": round_id,
                                              "presented_reversed": False, **ITEM_FIELDS,
                                              "llm_summary": "complementary."},
                     "total_annotations": 1, "overlap": 3},
            "annotation": {"id": i + 1, "task": task_id, "project": 1, "completed_by": i % 8 + 1,
                           "result": answer_result(relations[i % 3], comment="bench"),
                           "was_cancelled": False, "lead_time": 3.0, "created_at": stamp, "updated_at": stamp},
        }).encode())
    return bodies


class _Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for this benchmark: a
    load generator must cost far less CPU than the server it measures (httpx costs ~1 ms a request)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    async def request(self, head: bytes, body: bytes) -> int:
        self.writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])


async def _load(method: str, port: int, path: str, bodies: list[bytes] | None, rate: float, n: int) -> dict:
    """Send ``n`` requests at ``rate``/s; latency is measured from each request's scheduled time."""
    latencies: list[float] = [float("nan")] * n
    statuses: list[int] = [0] * n
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{SECRET_HEADER}: {SECRET}\r\n"
            f"Content-Type: application/json\r\nContent-Length: ").encode()
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    opened: list[_Connection] = []
    loop = asyncio.get_running_loop()

    async def connection() -> _Connection:
        if not idle.empty() or len(opened) >= MAX_CONNECTIONS:
            return await idle.get()
        conn = _Connection(*await asyncio.open_connection("127.0.0.1", port))
        opened.append(conn)
        return conn

    start = loop.time() + 0.2

    async def one(i: int) -> None:
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        conn = await connection()
        try:
            statuses[i] = await asyncio.wait_for(conn.request(head, bodies[i] if bodies else b""), 10.0)
            idle.put_nowait(conn)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            statuses[i] = -1
            conn.writer.close()
            opened.remove(conn)
        latencies[i] = loop.time() - scheduled

    await asyncio.gather(*(one(i) for i in range(n)))
    wall = loop.time() - start
    for conn in opened:
        conn.writer.close()
    ok = sorted(lat for lat, code in zip(latencies, statuses, strict=True) if code == 200)

    def pct(q: float) -> float:
        return ok[min(len(ok) - 1, int(q * len(ok)))] * 1000 if ok else float("nan")

    return {"sent": n, "ok": len(ok), "failed": n - len(ok), "wall_s": round(wall, 2),
            "p50_ms": round(pct(0.50), 2), "p99_ms": round(pct(0.99), 2),
            "max_ms": round(ok[-1] * 1000, 2) if ok else None,
            "mean_ms": round(statistics.fmean(ok) * 1000, 2) if ok else None}


def _serve(url: str, data_dir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PAIRLOOP_DATABASE_URL": url, "PAIRLOOP_DATA_DIR": str(data_dir),
           "PAIRLOOP_SERVICE_PORT": str(port), "PAIRLOOP_WEBHOOK_SECRET": SECRET,
           "PAIRLOOP_API_TOKEN": "bench-token"}
    return start_serve(env, port)


def _count_after(url: str, expected: int, timeout_s: float = 120.0) -> tuple[int, int, float]:
    """Events and labels in the store once nothing waits, and how long the backlog took to drain."""
    engine = make_engine(url)
    start = time.monotonic()
    try:
        while True:
            with engine.connect() as conn:
                events = conn.scalar(select(func.count()).select_from(WebhookEvent))
                waiting = conn.scalar(select(func.count()).select_from(WebhookEvent)
                                      .where(WebhookEvent.processed_at.is_(None)))
                labels = conn.scalar(select(func.count()).select_from(Label))
            if (waiting == 0 and events >= expected) or time.monotonic() - start > timeout_s:
                return events, labels, time.monotonic() - start
            time.sleep(0.2)
    finally:
        engine.dispose()


def _run(database: str, url: str, data_dir: Path, rate: float, seconds: float) -> dict:
    """Warm each endpoint up for WARM_UP_S (not timed: first requests fill caches and open
    connections), then measure; every delivery, warm-up included, must end up in the store."""
    round_id, pair_ids = _seed(url)
    n, warm = int(rate * seconds), int(rate * WARM_UP_S)
    bodies = _bodies(warm + n, round_id, pair_ids)
    port = free_port()
    server = _serve(url, data_dir, port)
    try:
        asyncio.run(_load("GET", port, "/health", None, rate, warm))
        base = asyncio.run(_load("GET", port, "/health", None, rate, n))
        warmed = asyncio.run(_load("POST", port, "/webhooks/label-studio", bodies[:warm], rate, warm))
        hooks = asyncio.run(_load("POST", port, "/webhooks/label-studio", bodies[warm:], rate, n))
        events, labels, drain_s = _count_after(url, warmed["ok"] + hooks["ok"])
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"database": database, "rate": rate, "seconds": seconds, "warm_up_requests": warm,
            "webhook": hooks, "baseline_health": base, "events_stored": events, "labels_stored": labels,
            "lost": warm + n - events, "backlog_drained_s": round(drain_s, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args(argv if argv is not None else [])
    results = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        if args.database != "postgresql":
            results.append(_run("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp), args.rate, args.seconds))
        created = None if args.database == "sqlite" else create_database()
        if created:
            name, url = created
            try:
                results.append(_run("postgresql", url, Path(tmp), args.rate, args.seconds))
            finally:
                drop_database(name)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "webhooks.json").write_text(json.dumps(results, indent=2))
    print(f"{args.rate:.0f} requests/s for {args.seconds:.0f} s on loopback; latency from scheduled send time;"
          f" load average before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'database':<11} {'endpoint':<22} {'ok':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
          f" {'events':>7} {'lost':>5}")
    for r in results:
        for label, load, events, lost in (("POST webhook", r["webhook"], r["events_stored"], r["lost"]),
                                          ("GET /health (baseline)", r["baseline_health"], "", "")):
            print(f"{r['database']:<11} {label:<22} {load['ok']:>6} {load['p50_ms']:>8} {load['p99_ms']:>8}"
                  f" {load['max_ms']:>8} {events:>7} {lost:>5}")


if __name__ == "__main__":
    main(sys.argv[1:])

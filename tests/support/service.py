"""Helpers shared by the service and Label Studio tests (imported as ``service.support``)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from sqlalchemy import Engine, func, select

from annotator.interface import ItemView, item_fields
from annotator.label_studio import ADJUDICATED_PAIR
from pairloop.settings import Settings
from store.db import make_engine
from store.models import Item, Label, Pair, Round, RoundPair, WebhookEvent

API_TOKEN = "test-api-token"
WEBHOOK_SECRET = "test-webhook-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_settings(db_url: str, data_dir: Path, **extra) -> Settings:
    """Settings for a service on a free loopback port with known secrets."""
    return Settings(database_url=db_url, data_dir=data_dir, service_port=free_port(),
                    api_token=API_TOKEN, webhook_secret=WEBHOOK_SECRET, **extra)


def seed_round(db_url: str, n_pairs: int, source: str = "test") -> tuple[int, list[int]]:
    """A round with ``n_pairs`` selected pairs of fresh items: (round id, pair ids in rank order)."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        round_id = conn.execute(Round.__table__.insert().returning(Round.id),
                                {"state": "verifying", "strategy": "test", "params": {}, "seed": 0}).scalar_one()
        item_ids = conn.execute(Item.__table__.insert().returning(Item.id), [
            {"source": source, "external_id": f"r{round_id}-i{i}", "title": f"item {i}",
             "category_path": "Outdoors > Camping", "description": f"description of item {i}",
             "image_url": "http://127.0.0.1/img.png" if i == 0 else None}
            for i in range(2 * n_pairs)
        ]).scalars().all()
        pair_ids = conn.execute(Pair.__table__.insert().returning(Pair.id), [
            {"item_a_id": item_ids[2 * i], "item_b_id": item_ids[2 * i + 1]} for i in range(n_pairs)
        ]).scalars().all()
        conn.execute(RoundPair.__table__.insert(), [
            {"round_id": round_id, "pair_id": p, "rank": r, "score": 0.5} for r, p in enumerate(pair_ids)
        ])
    engine.dispose()
    return round_id, list(pair_ids)


def delivery(action: str, annotation_id: int, updated_at: str, *, task_id: int, pair_id: int | None,
             round_id: int | None, result: list | None = None, user: int = 1,
             reversed_: bool = False, was_cancelled: bool = False, ruling: bool = False) -> dict:
    """A webhook body shaped like Label Studio 1.23.2's (the keys pairloop reads, as the real
    server sends them; tests/labelstudio checks the real deliveries end to end). ``ruling``: from
    an adjudication task, which names its pair as ``adjudicated_pair_id``."""
    data = {**item_fields(ItemView("a"), ItemView("b")), "presented_reversed": reversed_}
    if pair_id is not None:
        data.update({ADJUDICATED_PAIR if ruling else "pair_id": pair_id, "round_id": round_id})
    return {
        "action": action,
        "project": {"id": 1, "title": "round"},
        "task": {"id": task_id, "data": data, "total_annotations": 1},
        "annotation": {"id": annotation_id, "task": task_id, "project": 1, "result": result or [],
                       "completed_by": user, "was_cancelled": was_cancelled, "lead_time": 2.5,
                       "created_at": "2026-01-01T10:00:00.000001Z", "updated_at": updated_at},
    }


def deleted(*annotation_ids: int) -> dict:
    return {"action": "ANNOTATIONS_DELETED", "project": {"id": 1},
            "annotations": [{"id": i} for i in annotation_ids]}


def wait_processed(engine: Engine, expected_events: int | None = None, timeout_s: float = 30.0) -> int:
    """Wait until the inbox holds ``expected_events`` (when given) and none is waiting; return its size."""
    deadline = time.monotonic() + timeout_s
    while True:
        with engine.connect() as conn:
            total = conn.scalar(select(func.count()).select_from(WebhookEvent))
            waiting = conn.scalar(select(func.count()).select_from(WebhookEvent)
                                  .where(WebhookEvent.processed_at.is_(None)))
        if waiting == 0 and (expected_events is None or total >= expected_events):
            return total
        if time.monotonic() > deadline:
            raise AssertionError(f"inbox not processed in {timeout_s} s: {total} stored, {waiting} waiting")
        time.sleep(0.05)


def labels(engine: Engine) -> list:
    """Every label row, oldest first."""
    with engine.connect() as conn:
        return conn.execute(select(Label.__table__).order_by(Label.id)).all()

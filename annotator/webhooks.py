"""Label Studio annotation events → append-only human labels, idempotently.

Every event goes to the ``webhook_events`` inbox first (its ``dedupe_key`` is unique), and
is processed from there: a webhook delivery and the same annotation found by ``round sync``
share one key, so whichever comes second changes nothing.

Ordering: the verified rule takes each actor's *latest* label by row id, so an event that
is older than what is stored for its annotation (a late, reordered delivery) is skipped
rather than appended; a deleted annotation is never resurrected by a late create/update.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text, update

from annotator.annotations import read_answer
from store.models import Label, RoundPair, WebhookEvent
from store.repository import insert_ignore, insert_labels
from store.taxonomy import LabelSource, Verdict, mirror_fine

SECRET_HEADER = "X-Pairloop-Webhook-Secret"
CREATED, UPDATED, DELETED = "ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"
SYNCED = "ANNOTATION_SYNCED"  # an annotation found by listing (round sync), not delivered
ANNOTATION_FIELDS = ("id", "task", "project", "result", "completed_by", "was_cancelled",
                     "lead_time", "created_at", "updated_at")
TASK_DATA_FIELDS = ("pair_id", "round_id", "presented_reversed")


class BadEvent(ValueError):
    """A delivery that is not a Label Studio annotation event pairloop can read."""


@dataclass(frozen=True)
class Event:
    """One inbox entry: an annotation's state at one time, or one annotation's deletion."""

    dedupe_key: str
    action: str
    payload: dict[str, Any]


@dataclass
class ProcessReport:
    """What processing did: labels appended, and events skipped by reason."""

    processed: int = 0
    labels_added: int = 0
    skipped: Counter = field(default_factory=Counter)
    errors: dict[int, str] = field(default_factory=dict)

    def add(self, other: ProcessReport) -> None:
        self.processed += other.processed
        self.labels_added += other.labels_added
        self.skipped.update(other.skipped)
        self.errors.update(other.errors)


# --- keys -------------------------------------------------------------------------------


def stamp(value: Any) -> str:
    """A Label Studio time as a fixed-width UTC string, so keys sort in time order."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise BadEvent(f"unreadable time {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def annotation_key(annotation_id: int, updated_at: Any) -> str:
    """Identifies one state of one annotation (the event's and the label's idempotency key)."""
    return f"ls:{annotation_id}:{stamp(updated_at)}"


def deletion_key(annotation_id: int) -> str:
    return f"ls:{annotation_id}:deleted"


def actor_of(completed_by: Any) -> str:
    """The store's actor for a Label Studio user (the id: stable, unlike names)."""
    user = completed_by.get("id") if isinstance(completed_by, Mapping) else completed_by
    if user is None:
        raise BadEvent("annotation without completed_by")
    return f"label-studio:{user}"


# --- events from deliveries and listings ------------------------------------------------


def annotation_event(annotation: Mapping[str, Any], task: Mapping[str, Any] | None,
                     action: str) -> Event:
    """The inbox entry for one annotation's current state (kept small: no task HTML)."""
    try:
        ann = {name: annotation.get(name) for name in ANNOTATION_FIELDS}
        key = annotation_key(int(ann["id"]), ann["updated_at"])
    except (TypeError, ValueError, KeyError) as exc:
        raise BadEvent(f"annotation without a readable id and updated_at: {exc}") from None
    data = (task or {}).get("data") or {}
    slim_task = {"id": (task or {}).get("id", ann["task"]),
                 "data": {name: data.get(name) for name in TASK_DATA_FIELDS if name in data}}
    return Event(key, action, {"annotation": ann, "task": slim_task})


def events_from_webhook(body: Any) -> list[Event]:
    """The inbox entries one webhook delivery carries (none for actions pairloop ignores)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("action"), str):
        raise BadEvent("not a Label Studio webhook: no action")
    action = body["action"]
    if action in (CREATED, UPDATED):
        if not isinstance(body.get("annotation"), Mapping):
            raise BadEvent(f"{action} without an annotation")
        return [annotation_event(body["annotation"], body.get("task"), action)]
    if action == DELETED:
        try:
            ids = [int(a["id"]) for a in body["annotations"]]
        except (KeyError, TypeError, ValueError):
            raise BadEvent("ANNOTATIONS_DELETED without annotation ids") from None
        return [Event(deletion_key(i), DELETED, {"annotation": {"id": i}}) for i in ids]
    return []


# --- the inbox --------------------------------------------------------------------------


def store_events(conn: Connection, events: Sequence[Event]) -> list[int]:
    """Insert events not seen before; return the inbox ids of those still to process."""
    if not events:
        return []
    insert_ignore(conn, WebhookEvent.__table__, [
        {"dedupe_key": e.dedupe_key, "action": e.action, "payload": e.payload} for e in events
    ])
    keys = [e.dedupe_key for e in events]
    return list(conn.scalars(
        select(WebhookEvent.id).where(WebhookEvent.dedupe_key.in_(keys), WebhookEvent.processed_at.is_(None))
    ))


def process_events(engine: Engine, event_ids: Iterable[int]) -> ProcessReport:
    """Process inbox events, each in its own transaction (one failure does not block the rest)."""
    report = ProcessReport()
    for event_id in event_ids:
        try:
            with engine.begin() as conn:
                report.add(_process_one(conn, event_id))
        except Exception as exc:  # noqa: BLE001 - kept on the event, retried by process_pending
            with engine.begin() as conn:
                conn.execute(update(WebhookEvent).where(WebhookEvent.id == event_id)
                             .values(error=f"{type(exc).__name__}: {exc}"[:2000]))
            report.errors[event_id] = str(exc)
    return report


def process_pending(engine: Engine, limit: int | None = None) -> ProcessReport:
    """Process every stored event not processed yet (after a crash, or failed ones again)."""
    with engine.connect() as conn:
        stmt = select(WebhookEvent.id).where(WebhookEvent.processed_at.is_(None)).order_by(WebhookEvent.id)
        ids = list(conn.scalars(stmt.limit(limit) if limit else stmt))
    return process_events(engine, ids)


def receive(engine: Engine, events: Sequence[Event]) -> ProcessReport:
    """Store, then process, a batch of events (the webhook endpoint's and sync's entry point)."""
    with engine.begin() as conn:
        ids = store_events(conn, events)
    return process_events(engine, ids)


def _process_one(conn: Connection, event_id: int) -> ProcessReport:
    report = ProcessReport()
    # Claiming the event is the first statement: on SQLite it takes the write lock, so the
    # read-then-append below cannot interleave with another writer.
    claimed = conn.execute(
        update(WebhookEvent).where(WebhookEvent.id == event_id, WebhookEvent.processed_at.is_(None))
        .values(processed_at=datetime.now(UTC), error=None)
    ).rowcount
    if not claimed:
        report.skipped["already processed"] += 1
        return report
    event = conn.execute(select(WebhookEvent.action, WebhookEvent.payload)
                         .where(WebhookEvent.id == event_id)).one()
    annotation = event.payload["annotation"]
    _lock_annotation(conn, int(annotation["id"]))
    if event.action == DELETED:
        outcome = _retract(conn, int(annotation["id"]))
    else:
        outcome = _append(conn, annotation, event.payload.get("task") or {})
    report.processed = 1
    if outcome == "added":
        report.labels_added = 1
    else:
        report.skipped[outcome] += 1
    return report


def _lock_annotation(conn: Connection, annotation_id: int) -> None:
    """Serialise work on one annotation across connections (PostgreSQL; SQLite locks the file)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :id)"),
                     {"ns": _LOCK_NAMESPACE, "id": annotation_id})


_LOCK_NAMESPACE = int.from_bytes(hashlib.sha256(b"pairloop:ls-annotation").digest()[:4], "big", signed=True)


def _stored_keys(conn: Connection, annotation_id: int) -> list[str]:
    return list(conn.scalars(select(Label.external_key).where(Label.ls_annotation_id == annotation_id)))


def _was_deleted(conn: Connection, annotation_id: int) -> bool:
    return conn.scalar(select(func.count()).select_from(WebhookEvent)
                       .where(WebhookEvent.dedupe_key == deletion_key(annotation_id))) > 0


def _pair_of(conn: Connection, task: Mapping[str, Any], task_id: int | None) -> tuple[int, int | None, bool] | None:
    """(pair id, round id, shown reversed) from the task's data, else from round_pairs."""
    data = task.get("data") or {}
    if data.get("pair_id") is not None:
        return int(data["pair_id"]), data.get("round_id"), bool(data.get("presented_reversed"))
    if task_id is None:
        return None
    row = conn.execute(select(RoundPair.pair_id, RoundPair.round_id)
                       .where(RoundPair.ls_task_id == task_id)).first()
    return (row.pair_id, row.round_id, False) if row else None


def _append(conn: Connection, annotation: Mapping[str, Any], task: Mapping[str, Any]) -> str:
    annotation_id = int(annotation["id"])
    key = annotation_key(annotation_id, annotation["updated_at"])
    stored = _stored_keys(conn, annotation_id)
    if key in stored:
        return "duplicate"
    if deletion_key(annotation_id) in stored or _was_deleted(conn, annotation_id):
        return "annotation deleted"
    if any(k > key for k in stored):  # same fixed-width prefix: string order is time order
        return "older than stored"
    where = _pair_of(conn, task, annotation.get("task"))
    if where is None:
        return "not a pairloop task"
    pair_id, round_id, reversed_ = where
    answer = read_answer(annotation.get("result"), bool(annotation.get("was_cancelled")))
    fine = answer.fine_code
    if fine is not None and reversed_:
        fine = mirror_fine(fine)
    insert_labels(conn, [{
        "pair_id": pair_id, "verdict": answer.verdict.value,
        "relation": answer.relation.value if answer.relation else None, "fine_code": fine,
        "source": LabelSource.HUMAN.value, "actor": actor_of(annotation.get("completed_by")),
        "rationale": answer.comment, "presented_reversed": reversed_, "round_id": round_id,
        "ls_task_id": annotation.get("task"), "ls_annotation_id": annotation_id, "external_key": key,
    }])
    return "added"


def _retract(conn: Connection, annotation_id: int) -> str:
    labels = Label.__table__
    latest = conn.execute(
        select(labels).where(labels.c.ls_annotation_id == annotation_id).order_by(labels.c.id.desc()).limit(1)
    ).first()
    if latest is None:
        return "nothing to retract"  # the deletion event itself blocks a late create
    if latest.verdict == Verdict.RETRACTED.value:
        return "duplicate"
    insert_labels(conn, [{
        "pair_id": latest.pair_id, "verdict": Verdict.RETRACTED.value, "source": LabelSource.HUMAN.value,
        "actor": latest.actor, "presented_reversed": latest.presented_reversed, "round_id": latest.round_id,
        "ls_task_id": latest.ls_task_id, "ls_annotation_id": annotation_id,
        "external_key": deletion_key(annotation_id),
    }])
    return "added"

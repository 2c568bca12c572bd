"""Label Studio annotation events → append-only human labels, idempotently.

Every event goes to the ``webhook_events`` inbox first (its ``dedupe_key`` is unique), and
is processed from there: a webhook delivery and the same annotation found by ``round sync``
share one key, so whichever comes second changes nothing.

An annotation on a verification task (its data names ``pair_id``) is an annotator's vote; one
on an adjudication task (``adjudicated_pair_id``) is a ruling, stored flagged ``adjudication``
under keys of its own (:func:`ruling_key`). Rulings take the same path: the webhook delivers
them, and ``round sync`` lists them into the same inbox (:mod:`annotator.adjudication`).

Ordering: the verified rule takes each actor's *latest* label by row id, so an event that
is older than what is stored for its annotation (a late, reordered delivery) is skipped
rather than appended; a deleted annotation is never resurrected by a late create/update.

A closed round takes no more answers: an event for one of its pairs (a vote, a ruling, a change
or a deletion) is still stored, flagged ``late``, and never counts (:mod:`store.verified`). The
round's row is read under a share lock (PostgreSQL; SQLite has one writer), so an event is
either processed before the close commits or seen as late.

Annotators are actors ``label-studio:<user id>`` (a delivery names the user by id only); the
e-mails Label Studio's user list gives for them are cached in ``annotator_names``
(:func:`store.repository.remember_names`) by the round steps that talk to Label Studio.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, select, text, update

from annotator.annotations import read_answer
from annotator.label_studio import ADJUDICATED_PAIR
from store.errors import BadInput
from store.models import MAX_ID, Label, Round, RoundPair, WebhookEvent
from store.repository import insert_ignore, insert_labels
from store.states import RoundState
from store.taxonomy import LabelSource, Verdict, mirror_fine
from store.validation import json_text_problem

SECRET_HEADER = "X-Pairloop-Webhook-Secret"
CREATED, UPDATED, DELETED = "ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"
SYNCED = "ANNOTATION_SYNCED"  # an annotation found by listing (round sync), not delivered
DEFAULT_BATCH = 100
ANNOTATION_FIELDS = ("id", "task", "project", "result", "completed_by", "was_cancelled",
                     "lead_time", "created_at", "updated_at")
TASK_DATA_FIELDS = ("pair_id", ADJUDICATED_PAIR, "round_id", "presented_reversed")
ID_DATA_FIELDS = ("pair_id", ADJUDICATED_PAIR, "round_id")


class BadEvent(BadInput):
    """A delivery that is not a Label Studio annotation event pairloop can read: a bad request."""

    http_status = 400


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
    late: int = 0  # of the labels added, those for a closed round
    skipped: Counter = field(default_factory=Counter)
    errors: dict[int, str] = field(default_factory=dict)

    def add(self, other: ProcessReport) -> None:
        self.processed += other.processed
        self.labels_added += other.labels_added
        self.late += other.late
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
            raise BadEvent(f"unreadable time {value!r:.80}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is a valid time whose UTC is not
        raise BadEvent(f"time out of range {value!r:.80}") from None
    # strftime's %Y writes the year 999 as "999", which would sort after "2026": always 4 digits.
    return f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S.%fZ")


def annotation_key(annotation_id: int, updated_at: Any) -> str:
    """Identifies one state of one annotation (the event's and the label's idempotency key)."""
    return f"ls:{annotation_id}:{stamp(updated_at)}"


def deletion_key(annotation_id: int) -> str:
    return f"ls:{annotation_id}:deleted"


def ruling_key(annotation_id: int, updated_at: Any) -> str:
    """One state of one adjudication annotation (its event's and its label's idempotency key)."""
    return f"adjudication:{annotation_id}:{stamp(updated_at)}"


def withdrawn_key(annotation_id: int) -> str:
    return f"adjudication:{annotation_id}:deleted"


def actor_of(completed_by: Any) -> str:
    """The store's actor for a Label Studio user (the id: stable, unlike names)."""
    user = completed_by.get("id") if isinstance(completed_by, Mapping) else completed_by
    if user is None:
        raise BadEvent("annotation without completed_by")
    return f"label-studio:{user}"


def _state_key(data: Mapping[str, Any]) -> Callable[[int, Any], str]:
    """How an annotation state on a task with this data is keyed: as a ruling or as a vote."""
    return ruling_key if data.get(ADJUDICATED_PAIR) is not None else annotation_key


# --- events from deliveries and listings ------------------------------------------------


def ls_id(value: Any, what: str) -> int:
    """A Label Studio id as the store can keep it: a whole number from 1 to :data:`MAX_ID`
    (an int, or a string of ASCII digits); anything else is a :class:`BadEvent`."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if type(value) is not int or not 1 <= value <= MAX_ID:  # True is an int, 7.0 is not an id
        raise BadEvent(f"{what} is not an id from 1 to {MAX_ID}: {value!r:.80}")
    return value


def _optional_id(value: Any, what: str) -> int | None:
    return None if value is None else ls_id(value, what)


def _object(value: Any, what: str) -> Mapping[str, Any]:
    """A JSON object of the delivery, ``{}`` when absent or null."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadEvent(f"{what} is not an object")
    return value


def annotation_event(annotation: Mapping[str, Any], task: Mapping[str, Any] | None,
                     action: str) -> Event:
    """The inbox entry for one annotation's current state (kept small: no task HTML). The ids it
    keeps are checked here, so that processing never meets one the store cannot hold."""
    task = _object(task, "task")
    data = _object(task.get("data"), "task.data")
    ann = {name: annotation.get(name) for name in ANNOTATION_FIELDS}
    # Text PostgreSQL cannot keep is refused on both backends; the delivery's size is capped by the service.
    if problem := json_text_problem(ann["result"], max_chars=None):
        raise BadEvent(f"annotation.result: {problem}")
    ann["id"] = ls_id(ann["id"], "annotation.id")
    ann["task"] = _optional_id(ann["task"], "annotation.task")
    completed_by = ann["completed_by"]
    ls_id(completed_by.get("id") if isinstance(completed_by, Mapping) else completed_by, "annotation.completed_by")
    key = _state_key(data)(ann["id"], ann["updated_at"])
    slim_data = {name: data.get(name) for name in TASK_DATA_FIELDS if name in data}
    for name in ID_DATA_FIELDS:
        if name in slim_data:
            slim_data[name] = _optional_id(slim_data[name], f"task.data.{name}")
    slim_task = {"id": _optional_id(task.get("id", ann["task"]), "task.id"), "data": slim_data}
    return Event(key, action, {"annotation": ann, "task": slim_task})


def events_from_webhook(body: Any) -> list[Event]:
    """The inbox entries one webhook delivery carries (none for actions pairloop ignores); a
    :class:`BadEvent` for a body that is not a delivery pairloop can read."""
    if not isinstance(body, Mapping) or not isinstance(body.get("action"), str):
        raise BadEvent("not a Label Studio webhook: no action")
    action = body["action"]
    if action in (CREATED, UPDATED):
        if not isinstance(body.get("annotation"), Mapping):
            raise BadEvent(f"{action} without an annotation")
        return [annotation_event(body["annotation"], body.get("task"), action)]
    if action == DELETED:
        annotations = body.get("annotations")
        if not isinstance(annotations, list) or not all(isinstance(a, Mapping) for a in annotations):
            raise BadEvent("ANNOTATIONS_DELETED without a list of annotations")
        return [deletion_event(ls_id(a.get("id"), "annotations[].id")) for a in annotations]
    return []


def deletion_event(annotation_id: int) -> Event:
    """The inbox entry for one annotation's deletion (a vote's or a ruling's: the id tells)."""
    return Event(deletion_key(annotation_id), DELETED, {"annotation": {"id": annotation_id}})


# --- the inbox --------------------------------------------------------------------------

_SQLITE_WRITERS: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()
_SQLITE_WRITERS_GUARD = threading.Lock()


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction. SQLite admits one writer and its busy handler waits by sleeping
    (up to 100 ms a try), so within one process writers queue on a lock instead."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with _SQLITE_WRITERS_GUARD:
        lock = _SQLITE_WRITERS.setdefault(engine, threading.Lock())
    with lock, engine.begin() as conn:
        yield conn


def store_events(conn: Connection, events: Sequence[Event]) -> None:
    """Insert the events not seen before (one statement: what a webhook delivery waits for)."""
    insert_ignore(conn, WebhookEvent.__table__, [
        {"dedupe_key": e.dedupe_key, "action": e.action, "payload": e.payload} for e in events
    ])


def store_delivery(engine: Engine, events: Sequence[Event]) -> None:
    """Make one webhook delivery durable: its events inserted and committed, nothing else."""
    with writing(engine) as conn:
        store_events(conn, events)


def pending_ids(conn: Connection, events: Sequence[Event]) -> list[int]:
    """Inbox ids of these events that are still to process."""
    if not events:
        return []
    keys = [e.dedupe_key for e in events]
    return list(conn.scalars(
        select(WebhookEvent.id).where(WebhookEvent.dedupe_key.in_(keys), WebhookEvent.processed_at.is_(None))
    ))


def process_events(engine: Engine, event_ids: Sequence[int],
                   batch_size: int = DEFAULT_BATCH) -> ProcessReport:
    """Process inbox events in batches, one transaction each; a batch that fails is retried
    event by event, so one bad event is set aside (its error kept) without blocking the rest."""
    report = ProcessReport()
    ids = list(event_ids)
    for start in range(0, len(ids), batch_size):
        batch = ids[start:start + batch_size]
        try:
            with writing(engine) as conn:
                report.add(_process_batch(conn, batch))
        except Exception as exc:  # noqa: BLE001 - kept on the event, retried by process_pending
            if len(batch) > 1:
                report.add(process_events(engine, batch, batch_size=1))
                continue
            with writing(engine) as conn:
                conn.execute(update(WebhookEvent).where(WebhookEvent.id == batch[0])
                             .values(error=f"{type(exc).__name__}: {exc}"[:2000]))
            report.errors[batch[0]] = str(exc)
    return report


def process_pending(engine: Engine, limit: int | None = None, retry_failed: bool = True,
                    batch_size: int = DEFAULT_BATCH) -> ProcessReport:
    """Process stored events not processed yet (after a crash; failed ones too unless told not to)."""
    stmt = select(WebhookEvent.id).where(WebhookEvent.processed_at.is_(None)).order_by(WebhookEvent.id)
    if not retry_failed:
        stmt = stmt.where(WebhookEvent.error.is_(None))
    with engine.connect() as conn:
        ids = list(conn.scalars(stmt.limit(limit) if limit else stmt))
    return process_events(engine, ids, batch_size)


def receive(engine: Engine, events: Sequence[Event]) -> ProcessReport:
    """Store, then process, a batch of events (the webhook endpoint's and sync's entry point)."""
    with writing(engine) as conn:
        store_events(conn, events)
        ids = pending_ids(conn, events)
    return process_events(engine, ids)


# --- processing ---------------------------------------------------------------------------

_LABEL_COLUMNS = ("id", "pair_id", "actor", "verdict", "presented_reversed", "adjudication", "round_id",
                  "ls_task_id", "ls_annotation_id", "external_key")


@dataclass
class _Known:
    """What the store holds for one annotation: its label keys, its latest label, a deletion."""

    keys: set[str] = field(default_factory=set)
    latest: dict[str, Any] | None = None
    deleted: bool = False


def _process_batch(conn: Connection, event_ids: Sequence[int]) -> ProcessReport:
    report = ProcessReport()
    events = WebhookEvent.__table__
    # Claiming the events is the first statement: on SQLite it takes the write lock, so the
    # reads and appends below cannot interleave with another writer.
    claimed = sorted(conn.execute(
        update(events).where(events.c.id.in_(list(event_ids)), events.c.processed_at.is_(None))
        .values(processed_at=datetime.now(UTC), error=None)
        .returning(events.c.id, events.c.action, events.c.payload)
    ).all())
    report.skipped["already processed"] += len(event_ids) - len(claimed)
    if not claimed:
        return report
    annotation_ids = sorted({int(e.payload["annotation"]["id"]) for e in claimed})
    _lock_annotations(conn, annotation_ids)
    known = _known(conn, annotation_ids)
    task_pairs = _task_pairs(conn, [e.payload["annotation"].get("task") for e in claimed
                                    if e.action != DELETED and not _names_pair(_task_data(e.payload))])
    rows: list[dict[str, Any]] = []
    for event in claimed:  # in arrival order, as if one at a time
        annotation = event.payload["annotation"]
        state = known[int(annotation["id"])]
        if event.action == DELETED:
            outcome, row = _retraction(int(annotation["id"]), state)
        else:
            outcome, row = _label(annotation, _task_data(event.payload), state, task_pairs)
        if row is not None:
            rows.append(row)
            state.keys.add(row["external_key"])
            state.latest = row
            report.labels_added += 1
        else:
            report.skipped[outcome] += 1
    closed = _closed_rounds(conn, {row["round_id"] for row in rows} - {None})
    for row in rows:  # every row gets the key: one executemany takes its columns from the first row
        row["late"] = row["round_id"] in closed
    report.late = sum(row["late"] for row in rows)
    insert_labels(conn, rows)
    report.processed = len(claimed)
    return report


def _closed_rounds(conn: Connection, round_ids: set[int]) -> set[int]:
    """Which of these rounds are closed, read under a share lock: a close waits for this batch to
    commit, and a batch waits for a close under way to commit (PostgreSQL; SQLite has one writer)."""
    if not round_ids:
        return set()
    rows = conn.execute(select(Round.id, Round.state).where(Round.id.in_(sorted(round_ids)))
                        .order_by(Round.id).with_for_update(read=True))
    return {round_id for round_id, state in rows if state == RoundState.CLOSED}


def _lock_annotations(conn: Connection, annotation_ids: Sequence[int]) -> None:
    """Serialise work on the same annotations across connections (PostgreSQL; SQLite locks the
    whole file). Taken in id order, so two batches cannot wait on each other."""
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_IN_ORDER, {"ns": _LOCK_NAMESPACE, "ids": list(annotation_ids)})


_LOCK_NAMESPACE = int.from_bytes(hashlib.sha256(b"pairloop:ls-annotation").digest()[:4], "big", signed=True)
_LOCK_IN_ORDER = text(
    "SELECT count(pg_advisory_xact_lock(:ns, id)) "
    "FROM (SELECT unnest(CAST(:ids AS integer[])) AS id ORDER BY 1) AS sorted_ids"
)


def _known(conn: Connection, annotation_ids: Sequence[int]) -> dict[int, _Known]:
    known = {annotation_id: _Known() for annotation_id in annotation_ids}
    labels = Label.__table__
    rows = conn.execute(select(*(labels.c[name] for name in _LABEL_COLUMNS))
                        .where(labels.c.ls_annotation_id.in_(annotation_ids)).order_by(labels.c.id))
    for row in rows.mappings():
        state = known[row["ls_annotation_id"]]
        state.keys.add(row["external_key"])
        state.latest = dict(row)
    deletions = {deletion_key(a): a for a in annotation_ids}
    for key in conn.scalars(select(WebhookEvent.dedupe_key).where(WebhookEvent.dedupe_key.in_(deletions))):
        known[deletions[key]].deleted = True
    return known


def _task_data(payload: Mapping[str, Any]) -> dict[str, Any]:
    return dict((payload.get("task") or {}).get("data") or {})


def _names_pair(data: Mapping[str, Any]) -> bool:
    return data.get("pair_id") is not None or data.get(ADJUDICATED_PAIR) is not None


def _task_pairs(conn: Connection, task_ids: Sequence[int | None]) -> dict[int, tuple[int, int]]:
    """Task id → (pair id, round id) from round_pairs, for tasks whose data lacks a pair id."""
    wanted = [t for t in set(task_ids) if t is not None]
    if not wanted:
        return {}
    rows = conn.execute(select(RoundPair.ls_task_id, RoundPair.pair_id, RoundPair.round_id)
                        .where(RoundPair.ls_task_id.in_(wanted)))
    return {task: (pair, round_id) for task, pair, round_id in rows}


# The rows _label and _retraction append have the same keys: one executemany takes its columns
# from its first row, and would drop a key the first row lacks from all the others.


def _label(annotation: Mapping[str, Any], data: Mapping[str, Any], state: _Known,
           task_pairs: Mapping[int, tuple[int, int]]) -> tuple[str, dict[str, Any] | None]:
    annotation_id = int(annotation["id"])
    ruling = data.get(ADJUDICATED_PAIR) is not None
    key = _state_key(data)(annotation_id, annotation["updated_at"])
    if key in state.keys:
        return "duplicate", None
    if state.deleted or (withdrawn_key if ruling else deletion_key)(annotation_id) in state.keys:
        return "annotation deleted", None
    if any(k > key for k in state.keys):  # same fixed-width prefix: string order is time order
        return "older than stored", None
    if ruling:
        pair_id, round_id = int(data[ADJUDICATED_PAIR]), data.get("round_id")
    elif data.get("pair_id") is not None:
        pair_id, round_id = int(data["pair_id"]), data.get("round_id")
    elif annotation.get("task") in task_pairs:
        pair_id, round_id = task_pairs[annotation["task"]]
    else:
        return "not a pairloop task", None
    reversed_ = bool(data.get("presented_reversed"))
    answer = read_answer(annotation.get("result"), bool(annotation.get("was_cancelled")))
    fine = answer.fine_code
    if fine is not None and reversed_:
        fine = mirror_fine(fine)
    return "added", {
        "pair_id": pair_id, "verdict": answer.verdict.value,
        "relation": answer.relation.value if answer.relation else None, "fine_code": fine,
        "source": LabelSource.HUMAN.value, "actor": actor_of(annotation.get("completed_by")),
        "rationale": answer.comment, "presented_reversed": reversed_, "adjudication": ruling,
        "round_id": round_id, "ls_task_id": annotation.get("task"), "ls_annotation_id": annotation_id,
        "external_key": key,
    }


def _retraction(annotation_id: int, state: _Known) -> tuple[str, dict[str, Any] | None]:
    latest = state.latest
    if latest is None:
        return "nothing to retract", None  # the stored deletion event blocks a late create
    if latest["verdict"] == Verdict.RETRACTED.value:
        return "duplicate", None
    ruling = bool(latest["adjudication"])
    return "added", {
        "pair_id": latest["pair_id"], "verdict": Verdict.RETRACTED.value, "relation": None, "fine_code": None,
        "source": LabelSource.HUMAN.value, "actor": latest["actor"], "rationale": None,
        "presented_reversed": latest["presented_reversed"], "adjudication": ruling,
        "round_id": latest["round_id"], "ls_task_id": latest["ls_task_id"], "ls_annotation_id": annotation_id,
        "external_key": (withdrawn_key if ruling else deletion_key)(annotation_id),
    }

"""Reconcile the store with Label Studio by listing (the safety net behind the webhook).

Tasks changed since the last sync are listed with their annotations; each annotation goes
through the same inbox and processing as a webhook delivery (so anything the webhook
already delivered changes nothing), and annotations the store knows on a listed task that
Label Studio no longer has become retractions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import Engine, select

from annotator.label_studio import LIST_PAGE, LabelStudio, ListedTask
from annotator.webhooks import (
    DELETED,
    SYNCED,
    Event,
    ProcessReport,
    annotation_event,
    deletion_key,
    process_pending,
    receive,
)
from store.models import Label

# Listing from a little before the last sync covers clock skew between the two servers;
# what is listed twice is deduplicated by the inbox.
CLOCK_MARGIN = timedelta(minutes=5)


class SyncReport(BaseModel):
    """What a sync listed and stored (a model: the round's sync report extends it)."""

    synced_at: datetime = Field(description="Stored as the round's last sync; the next sync lists from there.")
    tasks_listed: int = 0
    annotations_seen: int = 0
    deletions_found: int = Field(0, description="Stored annotations Label Studio no longer has.")
    processing: ProcessReport = Field(default_factory=ProcessReport,
                                      description="What the inbox made of the listed annotations.")


def _live_annotation_ids(engine: Engine, round_id: int, task_ids: Sequence[int]) -> dict[int, set[int]]:
    """Per task, the annotation ids the store holds for this round and has not retracted."""
    found: dict[int, set[int]] = defaultdict(set)
    retracted: set[int] = set()
    with engine.connect() as conn:
        rows = conn.execute(
            select(Label.ls_task_id, Label.ls_annotation_id, Label.external_key)
            .where(Label.round_id == round_id, Label.ls_task_id.in_(list(task_ids)),
                   Label.ls_annotation_id.is_not(None))
        )
        for task_id, annotation_id, key in rows:
            found[task_id].add(annotation_id)
            if key == deletion_key(annotation_id):
                retracted.add(annotation_id)
    return {task: ids - retracted for task, ids in found.items()}


def _events(engine: Engine, round_id: int, tasks: Sequence[ListedTask]) -> tuple[list[Event], int]:
    stored = _live_annotation_ids(engine, round_id, [t.id for t in tasks])
    events: list[Event] = []
    deletions = 0
    for task in tasks:
        listed = {int(a["id"]) for a in task.annotations}
        events += [annotation_event(a, {"id": task.id, "data": task.data}, SYNCED) for a in task.annotations]
        for gone in sorted(stored.get(task.id, set()) - listed):
            events.append(Event(deletion_key(gone), DELETED, {"annotation": {"id": gone}}))
            deletions += 1
    return events, deletions


def _pages(tasks: Iterable[ListedTask], size: int) -> Iterable[list[ListedTask]]:
    page: list[ListedTask] = []
    for task in tasks:
        page.append(task)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


def reconcile(engine: Engine, studio: LabelStudio, round_id: int, project_id: int,
              since: datetime | None = None,
              advance: Callable[[int], None] = lambda _: None) -> SyncReport:
    """List the round's project for annotations changed since ``since`` (all when None) and
    bring the store up to date; failed inbox events are retried too."""
    report = SyncReport(synced_at=datetime.now(UTC))
    listed_since = since - CLOCK_MARGIN if since is not None else None
    for page in _pages(studio.list_tasks(project_id, updated_since=listed_since), LIST_PAGE):
        events, deletions = _events(engine, round_id, page)
        report.tasks_listed += len(page)
        report.annotations_seen += sum(len(t.annotations) for t in page)
        report.deletions_found += deletions
        report.processing.add(receive(engine, events))
        advance(len(page))
    report.processing.add(process_pending(engine))
    return report

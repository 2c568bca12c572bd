"""Disputed pairs to an adjudicator, and the adjudicator's rulings back into the store.

Label Studio Community cannot assign a task to a person, so adjudication happens in a project
of its own (one per round, one answer per task): whoever works that project adjudicates. Its
tasks show both items, the LLM's proposal for reference (nothing pre-selected) and every
annotator's answer; a pair whose verified label was flagged as likely wrong (confident
learning over the verified labels) comes with a note saying so. A ruling is stored as a human
label flagged ``adjudication``, with the adjudicator as its actor; :mod:`store.verified` treats
it as final.

Its tasks name their pair under their own key, so a ruling is never read as a vote. Rulings
reach the store as answers do, through the webhook inbox (:mod:`annotator.webhooks`): delivered
by the webhook when the project has one, and listed by ``round sync`` / ``round adjudicate``,
which also turns a stored ruling whose annotation is gone into a deletion. An annotation state
has one inbox key either way, so whichever comes second changes nothing, and a late, older
state never overrides a newer one. Routing lists the project first, so a pair is never sent
twice, even after an import whose answer was lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import Connection, Engine, select

from annotator.interface import fine_choice_label
from annotator.label_studio import ADJUDICATED_PAIR, LabelStudio, PairTask
from annotator.push import pair_tasks, stored_proposals
from annotator.webhooks import SYNCED, annotation_event, deletion_event, receive
from store.models import Label
from store.taxonomy import Verdict
from store.verified import HumanAnswer, human_answers


def describe(answer: HumanAnswer, name: str) -> str:
    """One annotator's answer as the adjudicator reads it."""
    if answer.verdict is Verdict.UNSURE or answer.relation is None:
        text = "unsure"
    else:
        text = answer.relation.value
        if answer.fine_code is not None:
            text += f" (fine {fine_choice_label(answer.fine_code)})"
    return f"{name}: {text}" + (f' ("{answer.comment}")' if answer.comment else "")


def adjudication_tasks(conn: Connection, round_id: int, pair_ids: Sequence[int],
                       names: Mapping[str, str], notes: Mapping[int, str] | None = None) -> list[PairTask]:
    """Tasks for disputed or flagged pairs: the items, the newest LLM proposal and the annotators'
    answers (shown under ``names`` where given, else as the store's actor ids), after the pair's
    note (why a flagged pair is there) when it has one."""
    answers = human_answers(conn, pair_ids)
    tasks = pair_tasks(conn, pair_ids, round_id, stored_proposals(conn, pair_ids))
    notes = notes or {}
    return [replace(task, answers=" ".join(filter(None, (
                notes.get(task.pair_id),
                "; ".join(describe(a, names.get(a.actor, a.actor)) for a in answers.get(task.pair_id, [])) or "none"))))
            for task in tasks]


@dataclass
class RouteReport:
    routed: list[int] = field(default_factory=list)  # pairs sent to the adjudicator by this call
    already: list[int] = field(default_factory=list)  # pairs the project held already


def route(engine: Engine, studio: LabelStudio, round_id: int, project_id: int, pair_ids: Sequence[int],
          names: Mapping[str, str] | None = None, notes: Mapping[int, str] | None = None) -> RouteReport:
    """Send the pairs the adjudication project does not hold yet, in chunked imports (``notes``:
    text shown first on a pair's task)."""
    held = {int(task.data[ADJUDICATED_PAIR]) for task in studio.list_tasks(project_id, with_annotations=False)
            if task.data.get("round_id") == round_id and task.data.get(ADJUDICATED_PAIR) is not None}
    report = RouteReport(already=[p for p in pair_ids if p in held])
    todo = [p for p in dict.fromkeys(pair_ids) if p not in held]
    if not todo:
        return report
    with engine.connect() as conn:
        tasks = adjudication_tasks(conn, round_id, todo, names or {}, notes)
    for chunk in studio.import_tasks(project_id, tasks, model_version=None):
        report.routed += list(chunk)
    return report


@dataclass
class RulingReport:
    tasks_listed: int = 0
    rulings_seen: int = 0
    labels_added: int = 0
    withdrawn: int = 0  # rulings whose annotation was deleted in Label Studio
    failed: int = 0  # rulings kept in the inbox with an error (retried by the next sync)


def _live_rulings(conn: Connection, round_id: int, task_ids: Sequence[int]) -> set[int]:
    """Annotation ids of the rulings stored for these tasks and not withdrawn."""
    rows = conn.execute(
        select(Label.ls_annotation_id, Label.verdict)
        .where(Label.round_id == round_id, Label.adjudication.is_(True), Label.ls_task_id.in_(list(task_ids)))
        .order_by(Label.id))
    latest = dict(rows.all())
    return {annotation_id for annotation_id, verdict in latest.items() if verdict != Verdict.RETRACTED.value}


def read_rulings(engine: Engine, studio: LabelStudio, round_id: int, project_id: int) -> RulingReport:
    """Bring the store up to date with the adjudication project's annotations, through the
    inbox the webhook fills: each listed state as an event, a deletion for each stored ruling
    whose annotation is gone."""
    tasks = [t for t in studio.list_tasks(project_id)
             if t.data.get("round_id") == round_id and t.data.get(ADJUDICATED_PAIR) is not None]
    events = [annotation_event(annotation, {"id": task.id, "data": task.data}, SYNCED)
              for task in tasks for annotation in task.annotations]
    with engine.connect() as conn:
        live = _live_rulings(conn, round_id, [t.id for t in tasks])
    gone = sorted(live - {int(e.payload["annotation"]["id"]) for e in events})
    processing = receive(engine, events + [deletion_event(a) for a in gone])
    return RulingReport(tasks_listed=len(tasks), rulings_seen=len(events), labels_added=processing.labels_added,
                        withdrawn=len(gone), failed=len(processing.errors))

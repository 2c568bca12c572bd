"""Disputed pairs to an adjudicator, and the adjudicator's rulings back into the store.

Label Studio Community cannot assign a task to a person, so adjudication happens in a project
of its own (one per round, one answer per task): whoever works that project adjudicates. Its
tasks show both items, the LLM's proposal for reference (nothing pre-selected) and every
annotator's answer. A ruling is stored as a human label flagged ``adjudication``, with the
adjudicator as its actor; :mod:`store.verified` treats it as final.

Rulings are read by listing the project (``round sync``, ``round adjudicate``): no webhook is
registered on it, and its tasks name their pair under their own key, so a ruling is never read
as a vote. A listing shows each annotation's current state, so reading appends a label only for
a state not stored yet, and a retraction for a ruling whose annotation is gone: reading twice
adds nothing. Routing lists the project first, so a pair is never sent twice, even after an
import whose answer was lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, Engine, select

from annotator.annotations import read_answer
from annotator.interface import fine_choice_label
from annotator.label_studio import ADJUDICATED_PAIR, LabelStudio, PairTask
from annotator.push import pair_tasks, stored_proposals
from annotator.webhooks import actor_of, stamp
from store.models import Label
from store.repository import insert_labels
from store.taxonomy import LabelSource, Verdict
from store.verified import HumanAnswer, human_answers


def ruling_key(annotation_id: int, updated_at: Any) -> str:
    """One state of one adjudication annotation (the label's idempotency key)."""
    return f"adjudication:{annotation_id}:{stamp(updated_at)}"


def withdrawn_key(annotation_id: int) -> str:
    return f"adjudication:{annotation_id}:deleted"


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
                       names: Mapping[str, str]) -> list[PairTask]:
    """Tasks for disputed pairs: the items, the newest LLM proposal and the annotators' answers
    (shown under ``names`` where given, else as the store's actor ids)."""
    answers = human_answers(conn, pair_ids)
    tasks = pair_tasks(conn, pair_ids, round_id, stored_proposals(conn, pair_ids))
    return [replace(task, answers="; ".join(describe(a, names.get(a.actor, a.actor))
                                            for a in answers.get(task.pair_id, [])) or "none")
            for task in tasks]


@dataclass
class RouteReport:
    routed: list[int] = field(default_factory=list)  # pairs sent to the adjudicator by this call
    already: list[int] = field(default_factory=list)  # pairs the project held already


def route(engine: Engine, studio: LabelStudio, round_id: int, project_id: int, pair_ids: Sequence[int],
          names: Mapping[str, str] | None = None) -> RouteReport:
    """Send the pairs the adjudication project does not hold yet, in chunked imports."""
    held = {int(task.data[ADJUDICATED_PAIR]) for task in studio.list_tasks(project_id, with_annotations=False)
            if task.data.get("round_id") == round_id and task.data.get(ADJUDICATED_PAIR) is not None}
    report = RouteReport(already=[p for p in pair_ids if p in held])
    todo = [p for p in dict.fromkeys(pair_ids) if p not in held]
    if not todo:
        return report
    with engine.connect() as conn:
        tasks = adjudication_tasks(conn, round_id, todo, names or {})
    for chunk in studio.import_tasks(project_id, tasks, model_version=None):
        report.routed += list(chunk)
    return report


@dataclass
class RulingReport:
    tasks_listed: int = 0
    rulings_seen: int = 0
    labels_added: int = 0
    withdrawn: int = 0  # rulings whose annotation was deleted in Label Studio


def _stored(conn: Connection, round_id: int, task_ids: Sequence[int]) -> dict[int, list[Any]]:
    """The adjudication labels stored for these tasks, by annotation id, oldest first."""
    rows = conn.execute(
        select(Label.ls_annotation_id, Label.external_key, Label.pair_id, Label.actor, Label.ls_task_id,
               Label.verdict)
        .where(Label.round_id == round_id, Label.adjudication.is_(True), Label.ls_task_id.in_(list(task_ids)))
        .order_by(Label.id))
    stored: dict[int, list[Any]] = {}
    for row in rows:
        stored.setdefault(row.ls_annotation_id, []).append(row)
    return stored


def _ruling(annotation: Mapping[str, Any], task_id: int, pair_id: int, round_id: int) -> dict[str, Any]:
    answer = read_answer(annotation.get("result"), bool(annotation.get("was_cancelled")))
    return {
        "pair_id": pair_id, "verdict": answer.verdict.value,
        "relation": answer.relation.value if answer.relation else None, "fine_code": answer.fine_code,
        "source": LabelSource.HUMAN.value, "actor": actor_of(annotation.get("completed_by")),
        "rationale": answer.comment, "adjudication": True, "round_id": round_id, "ls_task_id": task_id,
        "ls_annotation_id": int(annotation["id"]),
        "external_key": ruling_key(int(annotation["id"]), annotation["updated_at"]),
    }


def read_rulings(engine: Engine, studio: LabelStudio, round_id: int, project_id: int) -> RulingReport:
    """Bring the store up to date with the adjudication project's annotations."""
    report = RulingReport()
    tasks = [t for t in studio.list_tasks(project_id)
             if t.data.get("round_id") == round_id and t.data.get(ADJUDICATED_PAIR) is not None]
    report.tasks_listed = len(tasks)
    with engine.begin() as conn:
        stored = _stored(conn, round_id, [t.id for t in tasks])
        rows: list[dict[str, Any]] = []
        listed: set[int] = set()
        for task in tasks:
            for annotation in task.annotations:
                report.rulings_seen += 1
                listed.add(int(annotation["id"]))
                row = _ruling(annotation, task.id, int(task.data[ADJUDICATED_PAIR]), round_id)
                if row["external_key"] not in {r.external_key for r in stored.get(row["ls_annotation_id"], [])}:
                    rows.append(row)
        for annotation_id, history in stored.items():
            latest = history[-1]
            if annotation_id not in listed and latest.verdict != Verdict.RETRACTED.value:
                rows.append({"pair_id": latest.pair_id, "verdict": Verdict.RETRACTED.value,
                             "source": LabelSource.HUMAN.value, "actor": latest.actor, "adjudication": True,
                             "round_id": round_id, "ls_task_id": latest.ls_task_id,
                             "ls_annotation_id": annotation_id, "external_key": withdrawn_key(annotation_id)})
                report.withdrawn += 1
        insert_labels(conn, rows)
    report.labels_added = len(rows)
    return report

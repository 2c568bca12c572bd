"""Push a round's pairs to Label Studio so that a retry never duplicates a task.

Each imported chunk's task ids are written to ``round_pairs.ls_task_id`` as soon as Label
Studio returns them, and only pairs without a task id are pushed. If Label Studio took a
chunk but the answer was lost (the connection dropped), the project holds more tasks than
the store knows of: the next push first lists the project and records those task ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, bindparam, func, select, update
from sqlalchemy.orm import aliased

from annotator.interface import ItemView
from annotator.label_studio import DEFAULT_CHUNK, LabelStudio, PairTask, Proposal
from store.models import Item, LlmProposal, Pair, RoundPair


def model_version(model: str, prompt_version: str) -> str:
    """The Label Studio ``model_version`` of an LLM's proposals (project and predictions must match)."""
    return f"{model}@{prompt_version}"


@dataclass
class PushReport:
    pushed: int = 0  # tasks created by this call
    already: int = 0  # pairs that had a task from an earlier call
    recovered: int = 0  # tasks an interrupted earlier call created, found by listing
    task_ids: dict[int, int] = field(default_factory=dict)  # pair id → task id, all requested pairs


def stored_proposals(conn: Connection, pair_ids: Sequence[int], model: str | None = None,
                     prompt_version: str | None = None) -> dict[int, Proposal]:
    """The LLM proposals (with a relation) by pair id: of one model and prompt version, or
    without them each pair's newest proposal."""
    stmt = (select(LlmProposal.pair_id, LlmProposal.relation, LlmProposal.fine_code,
                   LlmProposal.confidence, LlmProposal.rationale)
            .where(LlmProposal.pair_id.in_(list(pair_ids)), LlmProposal.relation.is_not(None))
            .order_by(LlmProposal.id))
    if model is not None:
        stmt = stmt.where(LlmProposal.model == model, LlmProposal.prompt_version == prompt_version)
    return {r.pair_id: Proposal(r.relation, r.fine_code, r.confidence, r.rationale) for r in conn.execute(stmt)}


def pair_tasks(conn: Connection, pair_ids: Sequence[int], round_id: int | None,
               proposals: Mapping[int, Proposal]) -> list[PairTask]:
    """Tasks for pairs, items in the pair's canonical order (item a as item 1)."""
    item_a, item_b = aliased(Item), aliased(Item)
    rows = conn.execute(
        select(Pair.id,
               item_a.title, item_a.category_path, item_a.description, item_a.image_url,
               item_b.title, item_b.category_path, item_b.description, item_b.image_url)
        .join(item_a, Pair.item_a_id == item_a.id).join(item_b, Pair.item_b_id == item_b.id)
        .where(Pair.id.in_(list(pair_ids)))
    )
    found = {row[0]: PairTask(row[0], ItemView(*row[1:5]), ItemView(*row[5:9]), round_id,
                              proposals.get(row[0])) for row in rows}
    missing = [p for p in pair_ids if p not in found]
    if missing:
        raise ValueError(f"unknown pair ids: {missing[:10]}")
    return [found[p] for p in pair_ids]


def _recorded(conn: Connection, round_id: int, pair_ids: Sequence[int]) -> dict[int, int | None]:
    rows = conn.execute(select(RoundPair.pair_id, RoundPair.ls_task_id)
                        .where(RoundPair.round_id == round_id, RoundPair.pair_id.in_(list(pair_ids))))
    recorded = dict(rows.all())
    missing = [p for p in pair_ids if p not in recorded]
    if missing:
        raise ValueError(f"pairs not selected in round {round_id}: {missing[:10]}")
    return recorded


def _record(conn: Connection, round_id: int, task_ids: Mapping[int, int]) -> None:
    if not task_ids:
        return
    table = RoundPair.__table__
    conn.execute(
        update(table).where(table.c.round_id == round_id, table.c.pair_id == bindparam("p"))
        .values(ls_task_id=bindparam("t")),
        [{"p": pair_id, "t": task_id} for pair_id, task_id in task_ids.items()],
    )


def _recover(studio: LabelStudio, project_id: int, round_id: int, wanted: set[int]) -> dict[int, int]:
    """Tasks of this round already in the project (pushed by a call whose answer was lost)."""
    found: dict[int, int] = {}
    for task in studio.list_tasks(project_id, with_annotations=False):
        pair_id, task_round = task.data.get("pair_id"), task.data.get("round_id")
        if task_round == round_id and pair_id in wanted:
            found.setdefault(int(pair_id), task.id)
    return found


def push_round_pairs(
    engine: Engine,
    studio: LabelStudio,
    round_id: int,
    project_id: int,
    pair_ids: Sequence[int],
    model_version: str,
    proposals: Mapping[int, Proposal] | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    advance: Callable[[int], None] = lambda _: None,
) -> PushReport:
    """Push the round's pairs that have no Label Studio task yet, in chunked imports.

    The pairs must be in ``round_pairs`` for ``round_id``. Safe to call again after any
    failure (:class:`~annotator.label_studio.LabelStudioUnavailable` included): pairs that
    got a task are never pushed twice.
    """
    pair_ids = list(dict.fromkeys(pair_ids))
    report = PushReport()
    with engine.connect() as conn:
        recorded = _recorded(conn, round_id, pair_ids)
    report.task_ids = {p: t for p, t in recorded.items() if t is not None}
    report.already = len(report.task_ids)
    advance(report.already)
    todo = [p for p in pair_ids if recorded[p] is None]
    if not todo:
        return report
    with engine.connect() as conn:
        in_store = conn.scalar(select(func.count()).select_from(RoundPair).where(
            RoundPair.round_id == round_id, RoundPair.ls_task_id.is_not(None)))
    if studio.project(project_id)["task_number"] > in_store:
        recovered = _recover(studio, project_id, round_id, set(todo))
        with engine.begin() as conn:
            _record(conn, round_id, recovered)
        report.recovered = len(recovered)
        report.task_ids.update(recovered)
        advance(len(recovered))
        todo = [p for p in todo if p not in recovered]
    if not todo:
        return report
    with engine.connect() as conn:
        tasks = pair_tasks(conn, todo, round_id, proposals or {})
    for chunk_ids in studio.import_tasks(project_id, tasks, model_version, chunk_size):
        with engine.begin() as conn:
            _record(conn, round_id, chunk_ids)
        report.pushed += len(chunk_ids)
        report.task_ids.update(chunk_ids)
        advance(len(chunk_ids))
    return report

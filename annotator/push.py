"""Push a round's pairs to Label Studio so that a retry never duplicates a task, and decide
whether the LLM's proposals are pre-selected in them (:func:`preannotation_policy`).

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
from store.models import AgreementReport, Item, LlmProposal, Pair, RoundPair

PRESELECT, SUGGEST, NO_PROPOSER = "preselect", "suggest", "none"


def model_version(model: str, prompt_version: str) -> str:
    """The Label Studio ``model_version`` of an LLM's proposals (project and predictions must match)."""
    return f"{model}@{prompt_version}"


# --- pre-annotation: pre-selected only where the proposer earned it ---------------------------------


@dataclass(frozen=True)
class Measured:
    """A proposer's agreement with human labels: on ``pairs`` pairs where it gave a relation."""

    source: str  # where the figures come from, as a reader needs it
    pairs: int
    accuracy: float | None
    kappa: float | None
    majority_baseline: float | None  # accuracy of always answering the humans' most frequent relation


@dataclass(frozen=True)
class PreannotationPolicy:
    """How a round shows its LLM proposals: ``preselect`` (a Label Studio prediction, which
    annotators find already chosen), ``suggest`` (text in the task, nothing chosen) or ``none``
    (no proposer). The figures are those the decision was made on."""

    policy: str
    reason: str
    model: str | None = None
    prompt_version: str | None = None
    measured_on: str | None = None
    pairs: int = 0
    accuracy: float | None = None
    kappa: float | None = None
    majority_baseline: float | None = None
    min_kappa: float | None = None
    min_pairs: int | None = None

    @property
    def preselects(self) -> bool:
        return self.policy == PRESELECT


def preannotation_policy(model: str | None, prompt_version: str | None, measured: Sequence[Measured],
                         min_kappa: float, min_pairs: int) -> PreannotationPolicy:
    """Pre-select a proposer's answers only when it earned it on human labels: on the measurement
    with the most pairs (the strongest evidence, good or bad), Cohen's kappa ≥ ``min_kappa`` on
    at least ``min_pairs`` pairs, and accuracy above always answering the majority relation.
    Anything less (no measurement included) shows the proposals as suggestions."""
    if model is None or prompt_version is None:
        return PreannotationPolicy(NO_PROPOSER, "no LLM proposals")
    rule = {"model": model, "prompt_version": prompt_version, "min_kappa": min_kappa, "min_pairs": min_pairs}
    if not measured:
        return PreannotationPolicy(SUGGEST, "no measured agreement with human labels yet (`pairloop llm agreement` "
                                            "on a labelled file, or verified labels of its rounds)", **rule)
    best = max(measured, key=lambda m: m.pairs)
    figures = {"measured_on": best.source, "pairs": best.pairs, "accuracy": best.accuracy, "kappa": best.kappa,
               "majority_baseline": best.majority_baseline, **rule}
    kappa = "undefined" if best.kappa is None else f"{best.kappa:.3f}"
    on = f"on {best.pairs} human-labelled pairs ({best.source})"
    if best.pairs < min_pairs:
        return PreannotationPolicy(SUGGEST, f"too little evidence: {best.pairs} human-labelled pairs "
                                            f"({best.source}), {min_pairs} needed", **figures)
    if best.kappa is None or best.kappa < min_kappa:
        return PreannotationPolicy(SUGGEST, f"Cohen's kappa {kappa} {on} is under {min_kappa:g}", **figures)
    if best.majority_baseline is not None and (best.accuracy or 0.0) <= best.majority_baseline:
        return PreannotationPolicy(SUGGEST, f"accuracy {best.accuracy:.3f} {on} does not beat always answering "
                                            f"the majority relation ({best.majority_baseline:.3f})", **figures)
    return PreannotationPolicy(PRESELECT, f"Cohen's kappa {kappa} ≥ {min_kappa:g} {on}", **figures)


def reported_agreement(conn: Connection, model: str, prompt_version: str) -> Measured | None:
    """The figures of the newest agreement report of this model + prompt version (the report whose
    gate :func:`annotator.trust_gate.latest_gate` reads), if any."""
    row = conn.execute(select(AgreementReport.id, AgreementReport.metrics)
                       .where(AgreementReport.model == model, AgreementReport.prompt_version == prompt_version)
                       .order_by(AgreementReport.id.desc()).limit(1)).first()
    if row is None or not row.metrics:
        return None
    metrics = row.metrics
    return Measured(f"agreement report #{row.id}", int(metrics.get("answered", metrics.get("pairs", 0))),
                    metrics.get("accuracy"), metrics.get("kappa"), metrics.get("majority_baseline"))


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
    model_version: str | None,
    proposals: Mapping[int, Proposal] | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    advance: Callable[[int], None] = lambda _: None,
) -> PushReport:
    """Push the round's pairs that have no Label Studio task yet, in chunked imports.

    The pairs must be in ``round_pairs`` for ``round_id``. ``proposals`` are shown in each task as
    text, and pre-selected (as predictions of ``model_version``) only when a model version is
    given (see :func:`preannotation_policy`). Safe to call again after any
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

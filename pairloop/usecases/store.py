"""The store itself: create or upgrade it, what it holds, labels as consumers read them, and
the figures the service reports (``pairloop init``, ``pairloop stats``, ``/labels``, ``/metrics``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from pairloop.usecases.context import Context
from store import stats as counts
from store.db import check_connection, make_engine
from store.errors import NotFound
from store.models import AgreementReport, Label, Pair, Round
from store.repository import cached_names
from store.states import RoundState
from store.taxonomy import Relation, Verdict
from store.verified import MajorityRule, VerifiedLabel, verified_labels


class StoreRevision(BaseModel):
    database: str = Field(description="The database URL (password hidden).")
    revision: str = Field(description="The schema revision now applied ('base': empty).")


def init_store(ctx: Context, downgrade: str | None = None) -> StoreRevision:
    """Create the database or upgrade it to the newest schema; or downgrade it to ``downgrade``
    ('base': empty). Works on a database at any revision (``ctx.engine`` insists on the newest)."""
    from alembic.runtime.migration import MigrationContext  # Alembic and Mako only for the commands that migrate

    import migrations

    url = ctx.settings.db_url
    engine = make_engine(url)
    try:
        check_connection(engine)
        if downgrade:
            migrations.downgrade(url, downgrade)
        else:
            migrations.upgrade(url)
        with engine.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision() or "base"
        return StoreRevision(database=engine.url.render_as_string(hide_password=True), revision=revision)
    finally:
        engine.dispose()


class VerifiedStats(BaseModel):
    rule: MajorityRule = Field(description="The majority rule the counts are under.")
    min_agreeing: int = Field(description="Agreeing human answers a verified label needs.")
    pairs: int = Field(description="Pairs with a verified label.")
    by_relation: dict[str, int]
    by_basis: dict[str, int] = Field(description="majority / adjudication / llm-auto.")
    without_majority: int = Field(description="Labelled pairs whose answers reach no verified label.")


class StoreStats(BaseModel):
    """What the store holds."""

    items: int = Field(description="Catalogue items (knowledge-graph entities are not items here).")
    items_by_source: dict[str, int] = Field(description="Catalogue items by source.")
    graph_entities: int = Field(0, description="Knowledge-graph entities (stored as items of source kg-entity).")
    pairs: int = Field(description="Pairs of items or of graph entities.")
    labels: int = Field(description="Label events (the history: every answer, retraction, unsure).")
    late_labels: int = Field(0, description="Of those, answers that arrived after their round closed: "
                                            "kept, never counted.")
    labels_by_source: dict[str, dict[str, int]] = Field(description="source → relation (or verdict) → count.")
    behaviour_by_kind: dict[str, int]
    verified: VerifiedStats


def store_stats(ctx: Context, rule: MajorityRule | None = None, min_agreeing: int | None = None) -> StoreStats:
    """Items, pairs, labels by source and relation, and the verified labels under ``rule``
    (default: the settings')."""
    settings = ctx.settings
    with ctx.engine.connect() as conn:
        data = counts.store_stats(conn, rule or settings.majority_rule, min_agreeing or settings.min_agreeing)
    return StoreStats.model_validate(data)


class LabelEvent(BaseModel):
    """One entry of a pair's label history (never changed: a new answer is a new event)."""

    id: int
    verdict: Verdict
    relation: Relation | None
    fine_code: int | None = Field(description="FBL code 1–9 in the pair's canonical order.")
    source: str = Field(description="human, llm, import or model.")
    actor: str
    name: str | None = Field(None, description="The actor's Label Studio e-mail when the store knows it (cached by "
                                               "round push, sync, adjudication and close); null otherwise.")
    prompt_version: str | None
    confidence: float | None
    rationale: str | None
    auto_accepted: bool = Field(description="An LLM label the trust gate accepted.")
    adjudication: bool = Field(description="An adjudicator's ruling.")
    presented_reversed: bool
    late: bool = Field(description="Arrived after its round closed: kept in the history, never a vote.")
    round_id: int | None
    ls_task_id: int | None
    ls_annotation_id: int | None
    created_at: datetime


class VerifiedRelation(BaseModel):
    relation: Relation
    fine_code: int | None
    votes: int = Field(description="Answers the label was decided on.")
    basis: str = Field(description="majority, adjudication or llm-auto.")


class VerifiedPairLabel(VerifiedRelation):
    pair_id: int


class PairHistory(BaseModel):
    pair_id: int
    item_a_id: int
    item_b_id: int
    history: list[LabelEvent] = Field(description="Every label event, oldest first.")
    verified: VerifiedRelation | None = Field(description="The verified label derived from them (null: none).")


class VerifiedPage(BaseModel):
    labels: list[VerifiedPairLabel]
    next_after: int | None = Field(description="Pass as ``after`` for the next page; null: the end.")


_EVENT_COLUMNS = [getattr(Label, name) for name in LabelEvent.model_fields if name != "name"]


def pair_history(ctx: Context, pair_id: int) -> PairHistory:
    """Every label event on one pair, oldest first, and the verified label derived from them."""
    settings = ctx.settings
    with ctx.engine.connect() as conn:
        pair = conn.execute(select(Pair.item_a_id, Pair.item_b_id).where(Pair.id == pair_id)).first()
        if pair is None:
            raise NotFound(f"no pair {pair_id}")
        rows = conn.execute(select(*_EVENT_COLUMNS).where(Label.pair_id == pair_id).order_by(Label.id)).mappings()
        history = [LabelEvent.model_validate(dict(row)) for row in rows]
        names = cached_names(conn, sorted({event.actor for event in history}))
        verified, _ = verified_labels(conn, settings.majority_rule, [pair_id], settings.min_agreeing)
    for event in history:
        event.name = names.get(event.actor)
    label = verified.get(pair_id)
    return PairHistory(pair_id=pair_id, item_a_id=pair.item_a_id, item_b_id=pair.item_b_id, history=history,
                       verified=None if label is None else VerifiedRelation(**_verified_fields(label)))


def verified_labels_page(ctx: Context, rule: MajorityRule | None = None, after: int = 0,
                         limit: int = 1000) -> VerifiedPage:
    """Verified labels by pair id. A page looks at ``limit`` labelled pairs above ``after``
    (those without a majority are left out, so a page may be shorter)."""
    settings = ctx.settings
    with ctx.engine.connect() as conn:
        ids = conn.execute(select(Label.pair_id).where(Label.pair_id > after).distinct()
                           .order_by(Label.pair_id).limit(limit)).scalars().all()
        labels, _ = verified_labels(conn, rule or settings.majority_rule, ids, settings.min_agreeing)
    return VerifiedPage(
        labels=[VerifiedPairLabel(pair_id=pid, **_verified_fields(labels[pid])) for pid in sorted(labels)],
        next_after=ids[-1] if len(ids) == limit else None,
    )


def _verified_fields(label: VerifiedLabel) -> dict[str, Any]:
    return {"relation": label.relation, "fine_code": label.fine_code, "votes": label.n_votes, "basis": label.basis}


class RoundRecord(BaseModel):
    """A round as the learning curve reads it."""

    id: int
    state: RoundState
    strategy: str
    closed_classifier_version: str | None = Field(None, description="The classifier its close trained or kept.")
    metrics: dict[str, Any] | None = Field(description="What closing the round recorded (the selection's "
                                                       "figures while it is open).")


class LlmAgreement(BaseModel):
    model: str
    prompt_version: str
    pairs: int
    accuracy: float | None
    kappa: float | None
    created_at: datetime


class Metrics(BaseModel):
    """Store counts, each round's metrics (the learning curve), and LLM agreement reports."""

    store: StoreStats
    rounds: list[RoundRecord]
    llm_agreement: list[LlmAgreement]


def metrics(ctx: Context) -> Metrics:
    with ctx.engine.connect() as conn:
        rounds = conn.execute(select(Round.id, Round.state, Round.strategy, Round.closed_classifier_version,
                                     Round.metrics).order_by(Round.id)).all()
        reports = conn.execute(select(AgreementReport.model, AgreementReport.prompt_version, AgreementReport.n_pairs,
                                      AgreementReport.metrics, AgreementReport.created_at)
                               .order_by(AgreementReport.id)).all()
    return Metrics(
        store=store_stats(ctx),
        rounds=[RoundRecord.model_validate(r, from_attributes=True) for r in rounds],
        llm_agreement=[LlmAgreement(model=r.model, prompt_version=r.prompt_version, pairs=r.n_pairs,
                                    accuracy=r.metrics.get("accuracy"), kappa=r.metrics.get("kappa"),
                                    created_at=r.created_at) for r in reports],
    )


# --- integrity --------------------------------------------------------------------------------------

class IntegrityProblem(BaseModel):
    check: str
    count: int = Field(description="Rows, rounds or snapshots found.")
    examples: list[str] = Field(description="The first of them: ids, or one line each.")


class IntegrityChecked(BaseModel):
    """What the integrity check found (each check is described in ``store/integrity.py``)."""

    ok: bool = Field(description="No check found anything.")
    checks: list[str] = Field(description="Every check run.")
    problems: list[IntegrityProblem]


def check_store(ctx: Context) -> IntegrityChecked:
    """Check the store: rows pointing at rows that are gone, rounds stuck in a state no command
    leaves, registered snapshots whose files fail their manifest."""
    from knowledge_graph.snapshots import verify
    from store.integrity import check_integrity

    with ctx.engine.connect() as conn:
        report = check_integrity(conn, verify)
    return IntegrityChecked(ok=report.ok, checks=report.checks,
                            problems=[IntegrityProblem(**vars(problem)) for problem in report.problems])

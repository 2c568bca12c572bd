"""How far the LLM agrees with humans: per model + prompt version (the agreement reports
``pairloop llm agreement`` stores, with their trust gate), and the pairs of a round where its
proposal and the humans' verified label differ.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pairloop.usecases.context import Context
from pairloop.usecases.pair_items import PairItem, pair_items
from pairloop.usecases.round_steps import get_round
from store.models import AgreementReport, LlmProposal, RoundPair
from store.taxonomy import LabelSource
from store.verified import current_votes, decide


class ModelAgreement(BaseModel):
    """The newest agreement report of one model + prompt version."""

    model: str
    prompt_version: str
    report_id: int
    reports: int = Field(description="Reports stored for this model + prompt version.")
    created_at: datetime
    pairs: int = Field(description="Pairs with a human majority label.")
    accuracy: float | None
    kappa: float | None = Field(description="Cohen's kappa (null: undefined).")
    consistency: float | None = Field(description="Share of pairs whose votes all agreed.")
    coverage: float | None = Field(description="Share of pairs the LLM answered.")
    gate_threshold: float | None = Field(description="The trust gate's confidence threshold (null: closed).")
    gate_target_precision: float | None
    gate_coverage: float | None = Field(description="Auto-accepted share of the held-out pairs.")
    gate_precision: float | None = Field(description="Precision of the auto-accepted held-out pairs.")


class LlmAgreementReports(BaseModel):
    models: list[ModelAgreement] = Field(description="Newest report first.")


def llm_agreement_reports(ctx: Context) -> LlmAgreementReports:
    """Each model + prompt version's newest agreement report and its trust gate."""
    with ctx.engine.connect() as conn:
        counts = dict(((m, p), n) for m, p, n in conn.execute(
            select(AgreementReport.model, AgreementReport.prompt_version, func.count())
            .group_by(AgreementReport.model, AgreementReport.prompt_version)))
        newest = select(func.max(AgreementReport.id)).group_by(AgreementReport.model, AgreementReport.prompt_version)
        rows = Session(bind=conn).scalars(select(AgreementReport).where(AgreementReport.id.in_(newest))
                                          .order_by(AgreementReport.id.desc())).all() if counts else []
    models = []
    for row in rows:
        m, gate = row.metrics, row.metrics.get("gate") or {}
        models.append(ModelAgreement(
            model=row.model, prompt_version=row.prompt_version, report_id=row.id,
            reports=counts[row.model, row.prompt_version], created_at=row.created_at, pairs=row.n_pairs,
            accuracy=m.get("accuracy"), kappa=m.get("kappa"), consistency=m.get("consistency"),
            coverage=m.get("coverage"), gate_threshold=gate.get("threshold"),
            gate_target_precision=gate.get("target_precision"), gate_coverage=m.get("gate_coverage"),
            gate_precision=m.get("gate_precision")))
    return LlmAgreementReports(models=models)


class LlmAnswer(BaseModel):
    model: str
    prompt_version: str
    status: str = Field(description="agreed / disputed (its votes differed) / unlabelled.")
    relation: str | None
    fine_code: int | None
    confidence: float | None
    rationale: str | None


class HumanVerdict(BaseModel):
    relation: str
    fine_code: int | None
    basis: str = Field(description="majority or adjudication.")
    votes: int


class Disagreement(BaseModel):
    pair_id: int
    item_a: PairItem
    item_b: PairItem
    llm: LlmAnswer
    human: HumanVerdict


class RoundDisagreements(BaseModel):
    round: int
    compared: int = Field(description="Pairs with both an LLM relation and a human verified label.")
    total: int = Field(description="Of those, the pairs where they differ.")
    offset: int
    disagreements: list[Disagreement] = Field(description="A page of them, in the round's rank order.")


def llm_disagreements(ctx: Context, round_id: int | None = None, offset: int = 0,
                      limit: int = 50) -> RoundDisagreements:
    """The pairs of a round (default: the newest) where the LLM's newest proposal differs from
    the verified label of the humans' answers (as the round's LLM-vs-human figures compare them)."""
    rule, min_agreeing = ctx.settings.majority_rule, ctx.settings.min_agreeing
    with ctx.engine.connect() as conn:
        round_ = get_round(conn, round_id)
        pair_ids = conn.execute(select(RoundPair.pair_id).where(RoundPair.round_id == round_.id)
                                .order_by(RoundPair.rank)).scalars().all()
        proposals = {row.pair_id: row for row in Session(bind=conn).scalars(
            select(LlmProposal).where(LlmProposal.pair_id.in_(pair_ids)).order_by(LlmProposal.id))}
        votes = current_votes(conn, pair_ids) if pair_ids else {}
    compared, differing = 0, []
    for pair_id in pair_ids:
        human = [v for v in votes.get(pair_id, []) if v.source == LabelSource.HUMAN.value]
        label = decide(pair_id, human, rule, min_agreeing) if human else None
        proposal = proposals.get(pair_id)
        if label is None or proposal is None or proposal.relation is None:
            continue
        compared += 1
        if proposal.relation != label.relation.value:
            differing.append((pair_id, proposal, label))
    page = differing[offset:offset + limit]
    with ctx.engine.connect() as conn:
        items = pair_items(conn, [pair_id for pair_id, _, _ in page])
    return RoundDisagreements(
        round=round_.id, compared=compared, total=len(differing), offset=offset,
        disagreements=[Disagreement(
            pair_id=pair_id, item_a=items[pair_id][0], item_b=items[pair_id][1],
            llm=LlmAnswer(model=p.model, prompt_version=p.prompt_version, status=p.status, relation=p.relation,
                          fine_code=p.fine_code, confidence=p.confidence, rationale=p.rationale),
            human=HumanVerdict(relation=label.relation.value, fine_code=label.fine_code, basis=label.basis,
                               votes=label.n_votes))
            for pair_id, p, label in page])


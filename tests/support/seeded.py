"""A store's rounds written row by row (answers, proposals, agreement reports, closes), for the
tests of what the dashboard reads; the round steps that write them for real need Label Studio."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, update

from store.models import AgreementReport, Label, LlmProposal, Round, RoundPair
from store.states import RoundPairStatus, RoundState

ANNOTATORS = ("label-studio:1", "label-studio:2", "label-studio:3")


def answer(engine: Engine, round_id: int, pair_id: int, *relations: str | None,
           adjudication: str | None = None) -> None:
    """Annotators 1, 2, 3 answer ``relations`` in turn (None: "unsure"); then an adjudicator's ruling."""
    rows = [{"pair_id": pair_id, "verdict": "label" if r else "unsure", "relation": r, "source": "human",
             "actor": actor, "adjudication": False, "round_id": round_id}
            for actor, r in zip(ANNOTATORS, relations, strict=False)]
    if adjudication:
        rows.append({"pair_id": pair_id, "verdict": "label", "relation": adjudication, "source": "human",
                     "actor": "label-studio:9", "adjudication": True, "round_id": round_id})
    with engine.begin() as conn:
        conn.execute(Label.__table__.insert(), rows)


def set_pairs(engine: Engine, round_id: int, status: RoundPairStatus, pair_ids: list[int]) -> None:
    with engine.begin() as conn:
        conn.execute(update(RoundPair).where(RoundPair.round_id == round_id, RoundPair.pair_id.in_(pair_ids))
                     .values(status=status))


def close(engine: Engine, round_id: int, metrics: dict) -> None:
    """Mark the round closed with these recorded figures."""
    with engine.begin() as conn:
        conn.execute(update(Round).where(Round.id == round_id).values(
            state=RoundState.CLOSED, metrics=metrics, closed_at=datetime.now(UTC)))


def propose(engine: Engine, pair_id: int, relation: str | None, model: str = "m", status: str = "agreed") -> None:
    """An LLM proposal (prompt version p1) whose rationale is "because RELATION"."""
    with engine.begin() as conn:
        conn.execute(LlmProposal.__table__.insert(), {
            "pair_id": pair_id, "model": model, "prompt_version": "p1", "status": status, "relation": relation,
            "confidence": 0.8, "rationale": f"because {relation}"})


def agreement_report(engine: Engine, model: str, accuracy: float, threshold: float | None) -> None:
    """An agreement report of ``model`` + p1 as `pairloop llm agreement` stores one."""
    metrics = {"model": model, "prompt_version": "p1", "pairs": 50, "accuracy": accuracy, "kappa": 0.4,
               "consistency": 0.9, "coverage": 0.95, "gate_coverage": 0.3, "gate_precision": 0.97,
               "gate": {"threshold": threshold, "target_precision": 0.95}}
    with engine.begin() as conn:
        conn.execute(AgreementReport.__table__.insert(), {"model": model, "prompt_version": "p1", "n_pairs": 50,
                                                          "metrics": metrics})

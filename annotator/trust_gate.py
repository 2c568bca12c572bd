"""The trust gate: which LLM proposals may skip human review.

For one model + prompt version, the gate is fitted on proposals whose pairs humans have
verified. Only *agreed* proposals are candidates. The auto-accept threshold is the lowest
confidence at which the proposals at or above it are correct with a one-sided
Clopper-Pearson lower bound (default 95%) that still reaches the target precision
(default 0.95). With the exact bound, even a flawless run needs 59 accepted proposals
before 0.95 is certain enough, so a weak or barely tested model earns no auto-accepts.
The threshold is picked among many candidates on the same sample, which makes the bound
slightly optimistic; refit as verified labels grow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, select

from annotator.llm.base import Proposal, ProposalStatus
from store.models import AgreementReport

DEFAULT_TARGET = 0.95
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Sample:
    """One calibration point: an agreed proposal's confidence and whether humans agreed."""

    confidence: float
    correct: bool


@dataclass(frozen=True)
class TrustGate:
    model: str
    prompt_version: str
    target_precision: float
    level: float
    threshold: float | None  # None: the gate is closed, every proposal goes to humans
    n_candidates: int  # agreed proposals with a human label
    accepted: int
    correct: int
    precision: float | None
    lower_bound: float | None

    def accepts(self, proposal: Proposal) -> bool:
        return (
            self.threshold is not None
            and proposal.status is ProposalStatus.AGREED
            and proposal.model == self.model
            and proposal.prompt_version == self.prompt_version
            and proposal.confidence is not None
            and proposal.confidence >= self.threshold
        )

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def precision_lower_bound(correct: int, n: int, level: float = DEFAULT_LEVEL) -> float:
    """One-sided Clopper-Pearson lower bound on a precision of ``correct``/``n``."""
    if n == 0 or correct == 0:
        return 0.0
    from scipy.stats import beta  # scipy.stats loads on first use: it is slow to import

    return float(beta.ppf(1.0 - level, correct, n - correct + 1))


def fit_gate(
    model: str,
    prompt_version: str,
    samples: Sequence[Sample],
    target: float = DEFAULT_TARGET,
    level: float = DEFAULT_LEVEL,
) -> TrustGate:
    """The lowest threshold whose accepted set has a precision lower bound ≥ ``target``."""
    ranked = sorted(samples, key=lambda s: s.confidence, reverse=True)
    best: tuple[float, int, int, float] | None = None
    correct = 0
    for i, sample in enumerate(ranked):
        correct += sample.correct
        at_boundary = i + 1 == len(ranked) or ranked[i + 1].confidence < sample.confidence
        if not at_boundary:
            continue  # a threshold accepts every tie, so only score after the last of them
        bound = precision_lower_bound(correct, i + 1, level)
        if bound >= target:
            best = (sample.confidence, i + 1, correct, bound)
    if best is None:
        return TrustGate(model, prompt_version, target, level, None, len(ranked), 0, 0, None, None)
    threshold, n, k, bound = best
    return TrustGate(model, prompt_version, target, level, threshold, len(ranked), n, k, k / n, bound)


def samples_of(pairs: Sequence[tuple[Proposal, str]]) -> list[Sample]:
    """Calibration samples from (proposal, human relation) pairs: agreed proposals only."""
    return [
        Sample(float(p.confidence or 0.0), p.relation is not None and p.relation.value == truth)
        for p, truth in pairs
        if p.status is ProposalStatus.AGREED
    ]


def reliability(points: Sequence[Sample], bins: int = 10) -> dict[str, Any]:
    """Calibration of confidence against correctness: per-bin accuracy and the expected
    calibration error (the bin-weighted gap between mean confidence and accuracy)."""
    table = []
    ece = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = [p for p in points if low <= p.confidence < high or (b == bins - 1 and p.confidence == 1.0)]
        if not inside:
            continue
        confidence = sum(p.confidence for p in inside) / len(inside)
        accuracy = sum(p.correct for p in inside) / len(inside)
        ece += len(inside) / len(points) * abs(confidence - accuracy)
        table.append({"low": low, "high": high, "n": len(inside), "confidence": confidence, "accuracy": accuracy})
    return {"bins": table, "ece": ece if points else None}


def latest_gate(conn: Connection, model: str, prompt_version: str) -> TrustGate | None:
    """The gate of the newest agreement report for this model + prompt version, if any."""
    stmt = (
        select(AgreementReport.metrics)
        .where(AgreementReport.model == model, AgreementReport.prompt_version == prompt_version)
        .order_by(AgreementReport.id.desc())
        .limit(1)
    )
    metrics = conn.execute(stmt).scalar_one_or_none()
    if not metrics or "gate" not in metrics:
        return None
    return TrustGate(**metrics["gate"])

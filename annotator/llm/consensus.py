"""Self-consistency: k ballots on one pair become one proposal (kept only when they agree)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from annotator.llm.base import Ballot, Proposal, ProposalStatus
from store.taxonomy import FINE_CODES, Relation, relation_of_fine


def relation_mass(ballot: Ballot) -> dict[Relation, float]:
    """The probability a ballot puts on each relation (one-hot for a JSON answer)."""
    mass = dict.fromkeys(Relation, 0.0)
    if ballot.probs:
        for code, p in ballot.probs.items():
            mass[relation_of_fine(code)] += p
    elif ballot.fine_code is not None:
        mass[relation_of_fine(ballot.fine_code)] = 1.0
    return mass


def _mean_mass(ballots: Sequence[Ballot]) -> dict[Relation, float]:
    total = dict.fromkeys(Relation, 0.0)
    for ballot in ballots:
        for relation, p in relation_mass(ballot).items():
            total[relation] += p / len(ballots)
    return total


def combine(
    key: str,
    ballots: Sequence[Ballot],
    model: str,
    prompt_version: str,
    latency_s: float = 0.0,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
) -> Proposal:
    """Agreed when every ballot was read and names the same relation; disputed otherwise.

    A disputed proposal still carries the plurality relation (a pre-annotation for the
    human), but only an agreed one can ever pass the trust gate. Confidence is the mean
    probability the ballots put on the chosen relation; an unreadable ballot counts 0.
    """
    common: dict[str, Any] = {
        "model": model, "prompt_version": prompt_version, "votes": list(ballots),
        "latency_s": latency_s, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
    }
    readable = [b for b in ballots if b.fine_code is not None]
    if not readable:
        errors = [b.error for b in ballots if b.error]
        return Proposal(key, ProposalStatus.UNLABELLED, None, None, None,
                        errors[0] if errors else "no readable answer", **common)
    mass = _mean_mass(ballots)
    said = Counter(relation_of_fine(b.fine_code) for b in readable)  # type: ignore[arg-type]
    top = max(said.values())
    relation = max((r for r, n in said.items() if n == top), key=lambda r: mass[r])
    agreed = len(readable) == len(ballots) and len(said) == 1
    fine = _fine_code(readable, relation)
    rationale = next((b.rationale for b in readable if b.rationale and relation_of_fine(b.fine_code) == relation), None)  # type: ignore[arg-type]
    if rationale is None:
        rationale = f"FBL {fine}: {FINE_CODES[fine]} ({said[relation]}/{len(ballots)} votes {relation.value})"
    status = ProposalStatus.AGREED if agreed else ProposalStatus.DISPUTED
    return Proposal(key, status, relation, fine, round(mass[relation], 6), rationale, **common)


def _fine_code(ballots: Sequence[Ballot], relation: Relation) -> int:
    """The fine code most ballots of ``relation`` named; ties go to the higher mean probability."""
    named = Counter(b.fine_code for b in ballots if relation_of_fine(b.fine_code) == relation)  # type: ignore[arg-type]

    def weight(code: int) -> tuple[int, float]:
        return named[code], sum((b.probs or {}).get(code, 0.0) for b in ballots)

    return max(named, key=weight)  # type: ignore[arg-type]

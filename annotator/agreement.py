"""LLM-vs-human agreement for one model + prompt version, stored to compare versions.

Every figure comes from one confusion matrix over the coarse relations (rows: humans,
columns: the LLM's relation, for proposals that have one):

- ``accuracy``: share of answered pairs where the LLM's relation matches the humans';
- ``kappa``: Cohen's kappa on the same pairs (0: chance agreement, 1: perfect);
- ``coverage``: answered pairs / pairs (an "unlabelled" proposal has no relation);
- ``consistency``: share of pairs whose votes all agreed (the FBL paper's consistency);
- ``fine_accuracy``: the fine FBL code, where humans agreed on one;
- the trust gate, fitted on half of the pairs (``calibration``) and measured on the other
  half (``held_out``): its coverage (auto-accepted / held-out pairs) and precision there,
  never on the pairs that chose its threshold;
- ``answer_positions``: which option letters the votes chose (position bias shows here).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection

from annotator.llm.base import Proposal, ProposalStatus
from annotator.llm.prompts import LETTERS
from annotator.trust_gate import DEFAULT_TARGET, Sample, fit_gate, reliability, samples_of
from store.models import AgreementReport
from store.taxonomy import RELATIONS, mirror_fine


@dataclass(frozen=True)
class Judged:
    """A proposal next to the human label of the same pair, both in the proposal's item order."""

    proposal: Proposal
    relation: str
    fine_code: int | None = None


def confusion(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str] = RELATIONS) -> np.ndarray:
    """Counts of (true, predicted) label pairs: rows ``truth``, columns ``predicted``, in ``labels`` order."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t], index[p]] += 1
    return matrix


def accuracy_and_kappa(truth: Sequence[str], predicted: Sequence[str]) -> tuple[float | None, float | None]:
    """Share of equal answers and Cohen's kappa (scikit-learn's); (None, None) without answers.

    A constant labeller scores kappa 0; kappa is None where it is undefined (both sides
    always gave the same single relation).
    """
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true labels but {len(predicted)} predicted ones")
    if not truth:
        return None, None
    from sklearn.metrics import cohen_kappa_score

    accuracy = sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns when kappa is undefined; that is the None below
        kappa = float(cohen_kappa_score(truth, predicted, replace_undefined_by=math.nan))
    return accuracy, None if math.isnan(kappa) else kappa


def agreement(judged: Sequence[Judged], target_precision: float = DEFAULT_TARGET) -> dict[str, Any]:
    """All agreement figures for proposals of one model + prompt version."""
    if not judged:
        raise ValueError("no pairs with a human label to compare with")
    versions = {(j.proposal.model, j.proposal.prompt_version) for j in judged}
    if len(versions) != 1:
        raise ValueError(f"proposals of several model/prompt versions: {sorted(versions)}")
    model, prompt_version = versions.pop()
    answered = [j for j in judged if j.proposal.relation is not None]
    truth = [j.relation for j in answered]
    predicted = [j.proposal.relation.value for j in answered]  # type: ignore[union-attr]
    matrix = confusion(truth, predicted)
    accuracy, kappa = accuracy_and_kappa(truth, predicted)
    fine = [j for j in answered if j.fine_code is not None]
    calibration, held_out = gate_split(judged)
    gate = fit_gate(model, prompt_version, samples_of([(j.proposal, j.relation) for j in calibration]),
                    target_precision)
    accepted = [j for j in held_out if gate.accepts(j.proposal)]
    statuses = Counter(j.proposal.status.value for j in judged)
    return {
        "model": model,
        "prompt_version": prompt_version,
        "pairs": len(judged),
        "answered": len(answered),
        "coverage": len(answered) / len(judged),
        "status": {s.value: statuses.get(s.value, 0) for s in ProposalStatus},
        "consistency": statuses.get(ProposalStatus.AGREED.value, 0) / len(judged),
        "accuracy": accuracy,
        "kappa": kappa,
        "accuracy_agreed": _accuracy([j for j in answered if j.proposal.is_label]),
        "majority_baseline": _majority_baseline(judged),
        "fine_accuracy": (sum(j.proposal.fine_code == j.fine_code for j in fine) / len(fine)) if fine else None,
        "fine_pairs": len(fine),
        "human_relations": dict(Counter(j.relation for j in judged)),
        "confusion": {"labels": list(RELATIONS), "rows": "human", "columns": "llm", "matrix": matrix.tolist()},
        "calibration": reliability(_samples(answered)),
        "gate": gate.as_json(),
        "gate_split": {"calibration": len(calibration), "held_out": len(held_out)},
        "gate_coverage": len(accepted) / len(held_out) if held_out else None,
        "gate_precision": _accuracy(accepted),
        "answer_positions": answer_positions(j.proposal for j in judged),
        "latency_s_per_pair": sum(j.proposal.latency_s for j in judged) / len(judged),
        "prompt_tokens_per_pair": sum(j.proposal.prompt_tokens for j in judged) / len(judged),
    }


def gate_split(judged: Sequence[Judged]) -> tuple[list[Judged], list[Judged]]:
    """Pairs alternate between calibrating the trust gate and measuring it, in order of first
    appearance; every row of a pair goes to the same side, so no pair is on both."""
    side: dict[str, int] = {}
    for j in judged:
        side.setdefault(j.proposal.key, len(side) % 2)
    calibration = [j for j in judged if side[j.proposal.key] == 0]
    return calibration, [j for j in judged if side[j.proposal.key] == 1]


def answer_positions(proposals: Iterable[Proposal]) -> dict[str, int]:
    """How often each option letter was chosen, over all readable votes. Options are shuffled
    between votes, so a judge reading the items spreads over the letters; a model that
    always answers "A" has position bias, not an opinion (and its votes never agree)."""
    chosen: Counter[str] = Counter()
    for proposal in proposals:
        for ballot in proposal.votes:
            if ballot.fine_code is not None:
                asked = mirror_fine(ballot.fine_code) if ballot.reversed else ballot.fine_code
                chosen[LETTERS[ballot.option_order.index(asked)]] += 1
    return dict(sorted(chosen.items()))


def _samples(answered: Sequence[Judged]) -> list[Sample]:
    """Confidence against correctness for every answered proposal, agreed or not."""
    return [Sample(j.proposal.confidence, j.proposal.relation.value == j.relation)  # type: ignore[union-attr]
            for j in answered if j.proposal.confidence is not None]


def _accuracy(judged: Sequence[Judged]) -> float | None:
    if not judged:
        return None
    right = sum(j.proposal.relation is not None and j.proposal.relation.value == j.relation for j in judged)
    return right / len(judged)


def _majority_baseline(judged: Sequence[Judged]) -> float:
    """Accuracy of always answering the humans' most frequent relation: the bar to clear."""
    return Counter(j.relation for j in judged).most_common(1)[0][1] / len(judged)


def store_report(conn: Connection, metrics: dict[str, Any]) -> int:
    """Keep the report (per model + prompt version, newest last); its id."""
    row = AgreementReport.__table__.insert().values(
        model=metrics["model"], prompt_version=metrics["prompt_version"], n_pairs=metrics["pairs"], metrics=metrics
    )
    return int(conn.execute(row).inserted_primary_key[0])


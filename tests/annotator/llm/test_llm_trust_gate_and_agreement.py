"""The trust gate's bound and threshold, and the agreement figures checked against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix

from annotator.agreement import (
    Judged,
    accuracy_and_kappa,
    agreement,
    answer_positions,
    confusion,
    gate_split,
)
from annotator.llm.base import Ballot, Proposal, ProposalStatus
from annotator.trust_gate import Sample, fit_gate, precision_lower_bound, reliability
from store.taxonomy import RELATIONS, Relation


@pytest.mark.parametrize(("k", "n"), [(59, 59), (58, 58), (90, 100), (3, 10), (0, 5)])
def test_the_bound_is_the_exact_one_sided_clopper_pearson_bound(k, n):
    expected = binomtest(k, n).proportion_ci(confidence_level=0.90, method="exact").low
    assert precision_lower_bound(k, n, 0.95) == pytest.approx(expected, abs=1e-9)
    assert precision_lower_bound(59, 59) >= 0.95 > precision_lower_bound(58, 58)


def calibrated_scores(n: int, seed: int, low: float = 0.34) -> list[Sample]:
    """A well-calibrated scorer: a proposal with confidence c is right with probability c."""
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(low, 1.0, n)
    return [Sample(float(c), bool(rng.random() < c)) for c in confidence]


def test_a_well_calibrated_scorer_earns_auto_accepts_that_hold_on_fresh_data():
    gate = fit_gate("m", "v", calibrated_scores(4000, seed=1))
    assert gate.threshold is not None and gate.accepted >= 200
    assert gate.lower_bound >= 0.95 and gate.precision >= gate.lower_bound
    fresh = [s for s in calibrated_scores(20000, seed=2) if s.confidence >= gate.threshold]
    assert sum(s.correct for s in fresh) / len(fresh) >= 0.95


def test_a_weak_model_earns_no_auto_accepts():
    rng = np.random.default_rng(3)
    # near chance, and confident whatever it says (what a 135M model does)
    weak = [Sample(float(rng.uniform(0.4, 0.99)), bool(rng.random() < 0.45)) for _ in range(2000)]
    assert fit_gate("m", "v", weak).threshold is None
    # a perfect record that is too short to be sure of 95% precision earns nothing either
    assert fit_gate("m", "v", [Sample(0.99, True)] * 40).threshold is None
    assert fit_gate("m", "v", [Sample(0.99, True)] * 60).threshold == 0.99


def proposal(relation: Relation | None, status: ProposalStatus, confidence: float | None = 0.9,
             fine: int | None = None, key: str = "1") -> Proposal:
    return Proposal(key, status, relation, fine, confidence, None, "m", "v")


def test_the_gate_accepts_only_agreed_proposals_of_its_own_model_and_version():
    gate = fit_gate("m", "v", [Sample(0.9, True)] * 80)
    assert gate.accepts(proposal(Relation.SUBSTITUTE, ProposalStatus.AGREED, 0.95))
    assert not gate.accepts(proposal(Relation.SUBSTITUTE, ProposalStatus.AGREED, 0.85))
    assert not gate.accepts(proposal(Relation.SUBSTITUTE, ProposalStatus.DISPUTED, 0.99))
    other = Proposal("1", ProposalStatus.AGREED, Relation.SUBSTITUTE, 1, 0.99, None, "m", "v2")
    assert not gate.accepts(other)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accuracy_kappa_and_confusion_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    truth = list(rng.choice(RELATIONS, 300, p=[0.2, 0.15, 0.65]))
    predicted = [t if rng.random() < 0.6 else str(rng.choice(RELATIONS)) for t in truth]
    assert confusion(truth, predicted).tolist() == confusion_matrix(truth, predicted, labels=list(RELATIONS)).tolist()
    accuracy, kappa = accuracy_and_kappa(truth, predicted)
    assert accuracy == pytest.approx(accuracy_score(truth, predicted))
    assert kappa == pytest.approx(cohen_kappa_score(truth, predicted, labels=list(RELATIONS)))


def test_kappa_of_a_constant_labeller_is_zero_like_scikit_learn():
    truth = ["unrelated"] * 8 + ["complementary"] * 2
    predicted = ["unrelated"] * 10
    _, kappa = accuracy_and_kappa(truth, predicted)
    assert kappa == pytest.approx(cohen_kappa_score(truth, predicted)) == 0.0


def test_kappa_is_none_where_undefined_and_nothing_to_compare_is_none_none():
    assert accuracy_and_kappa(["unrelated"] * 3, ["unrelated"] * 3) == (1.0, None)
    assert accuracy_and_kappa([], []) == (None, None)


def test_agreement_report_counts_statuses_coverage_and_the_gate():
    agreed = [Judged(proposal(Relation.UNRELATED, ProposalStatus.AGREED, 0.97, 8, f"a{i}"), "unrelated", 8)
              for i in range(140)]
    disputed = [Judged(proposal(Relation.SUBSTITUTE, ProposalStatus.DISPUTED, 0.5, 1, f"d{i}"), "unrelated", 9)
                for i in range(40)]
    unlabelled = [Judged(proposal(None, ProposalStatus.UNLABELLED, None, key=f"u{i}"), "complementary")
                  for i in range(20)]
    m = agreement(agreed + disputed + unlabelled)
    assert m["pairs"] == 200 and m["answered"] == 180 and m["coverage"] == pytest.approx(0.9)
    assert m["status"] == {"agreed": 140, "disputed": 40, "unlabelled": 20}
    assert m["consistency"] == pytest.approx(0.7)
    assert m["accuracy"] == pytest.approx(140 / 180) and m["accuracy_agreed"] == 1.0
    assert m["fine_accuracy"] == pytest.approx(140 / 180)
    assert m["majority_baseline"] == pytest.approx(0.9)
    # 70 flawless agreed proposals calibrate the gate; it is measured on the other 100 pairs
    assert m["gate_split"] == {"calibration": 100, "held_out": 100}
    assert m["gate"]["threshold"] == 0.97 and m["gate"]["accepted"] == 70
    assert m["gate_coverage"] == pytest.approx(0.7) and m["gate_precision"] == 1.0
    assert m["confusion"]["matrix"][RELATIONS.index("unrelated")] == [0, 40, 140]


def test_the_gate_is_measured_only_on_pairs_it_was_not_fitted_on():
    # Every second pair is right: the right ones calibrate the gate, the wrong ones measure it.
    judged = [Judged(proposal(Relation.UNRELATED, ProposalStatus.AGREED, 0.97, key=str(i)),
                     "unrelated" if i % 2 == 0 else "substitute") for i in range(200)]
    m = agreement(judged)
    assert m["gate"]["threshold"] == 0.97 and m["gate"]["precision"] == 1.0
    assert m["gate_coverage"] == 1.0 and m["gate_precision"] == 0.0  # what a reused sample would hide
    # the rows of a repeated pair stay on one side
    rows = [Judged(proposal(Relation.UNRELATED, ProposalStatus.AGREED, key=k), "unrelated") for k in "abac"]
    calibration, held_out = gate_split(rows)
    assert [j.proposal.key for j in calibration] == ["a", "a", "c"]
    assert [j.proposal.key for j in held_out] == ["b"]
    assert reliability([Sample(0.97, True)] * 3)["ece"] == pytest.approx(0.03)


def test_answer_positions_reveal_position_bias():
    order = (3, 1, 2, 4, 5, 6, 7, 8, 9)
    votes = [Ballot(False, order, 3), Ballot(True, order, 2), Ballot(False, order, 1), Ballot(False, order, None)]
    # 3 is letter A; a swapped vote's 2 was asked as 3 (letter A); 1 is letter B; unreadable is skipped
    p = Proposal("1", ProposalStatus.DISPUTED, Relation.COMPLEMENTARY, 3, 0.5, None, "m", "v", votes)
    assert answer_positions([p]) == {"A": 2, "B": 1}

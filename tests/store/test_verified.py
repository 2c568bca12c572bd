"""The majority rules that turn answers into a verified label."""

from __future__ import annotations

from store.taxonomy import Relation
from store.verified import MajorityRule, Vote, decide

C, S, U = Relation.COMPLEMENTARY, Relation.SUBSTITUTE, Relation.UNRELATED


def human(relation, fine=None):
    return Vote(relation, fine, "human", False)


def test_coarse_majority_needs_two_agreeing_answers():
    assert decide(1, [human(C, 4), human(C, 5), human(U, 8)], MajorityRule.COARSE).relation is C
    assert decide(1, [human(C, 4)], MajorityRule.COARSE) is None
    assert decide(1, [human(C, 4)], MajorityRule.COARSE, min_agreeing=1).relation is C
    assert decide(1, [human(C), human(S), human(U)], MajorityRule.COARSE) is None


def test_fine_majority_is_stricter_than_coarse():
    votes = [human(C, 4), human(C, 5), human(U, 8)]
    assert decide(1, votes, MajorityRule.FINE) is None
    fine = decide(1, [human(C, 5), human(C, 5), human(U, 8)], MajorityRule.FINE)
    assert (fine.relation, fine.fine_code) == (C, 5)


def test_adjudication_overrides_and_llm_counts_only_without_humans():
    adjudicated = decide(1, [human(C), human(C), Vote(S, 1, "human", True)], MajorityRule.COARSE)
    assert (adjudicated.relation, adjudicated.basis) == (S, "adjudication")
    llm = Vote(U, 8, "llm", False)
    assert decide(1, [llm], MajorityRule.COARSE).basis == "llm-auto"
    assert decide(1, [llm, human(C), human(C)], MajorityRule.COARSE).relation is C

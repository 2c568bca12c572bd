"""Prompt templates, vote plans and self-consistency (no model needed)."""

from __future__ import annotations

import pytest

from annotator.llm.base import Ballot, PairText, ProposalStatus
from annotator.llm.calibration import divide_prior
from annotator.llm.consensus import combine
from annotator.llm.prompts import (
    DEFAULT_PROMPT_VERSION,
    FBL9_V1,
    FBL9_V2,
    LETTERS,
    get_template,
    vote_plans,
)
from store.taxonomy import Relation

PAIR = PairText("1", "テント 2人用", "寝袋 シュラフ", "アウトドア > テント", "Outdoor > Sleeping bags")


def test_vote_plans_permute_item_and_option_order_deterministically():
    plans = vote_plans(FBL9_V1, 3)
    assert [p.reversed for p in plans] == [False, True, False]
    assert plans[0].option_order == tuple(range(1, 10))
    assert all(sorted(p.option_order) == list(range(1, 10)) for p in plans)
    assert len({p.option_order for p in plans}) == 3
    assert plans == vote_plans(FBL9_V1, 3)  # the same version always asks the same questions
    with pytest.raises(ValueError):
        vote_plans(FBL9_V1, 0)


def test_template_states_the_nine_definitions_and_both_items():
    plan = vote_plans(FBL9_V1, 2)[1]
    system = FBL9_V1.system(plan)
    for i, code in enumerate(plan.option_order):
        assert f"{LETTERS[i]}. {FBL9_V1.definitions[code]}" in system
    user = FBL9_V1.user(PAIR, plan)
    # reversed plan: item 1 is the pair's item b, with its category
    assert user.index("寝袋 シュラフ (category: Outdoor > Sleeping bags)") < user.index("テント 2人用")
    assert "letter" in user and "JSON" in FBL9_V1.user(PAIR, plan, as_json=True)
    assert plan.code_of(plan.letter_of(7)) == 7
    assert get_template(DEFAULT_PROMPT_VERSION) is FBL9_V2
    with pytest.raises(ValueError, match="unknown prompt version"):
        get_template("nope")


def test_v2_asks_in_the_shared_system_message_and_clips_items_by_bytes():
    long_title = "ペーパータオル　タウパーソフト M 中判 ダブル パルプ100％ FSC認証紙 1個（200組入） オリジナル"
    pair = PairText("2", long_title, "Refill pack for the tissue box (category: Home)")
    plan = vote_plans(FBL9_V2, 2)[0]
    system, user = FBL9_V2.system(plan), FBL9_V2.user(pair, plan)
    assert system.endswith(FBL9_V2.question)
    assert user.startswith("Item 1: ペーパータオル タウパーソフト")  # full-width space collapsed
    first, second = user.split("\n")
    assert first.endswith("…") and len(first.removeprefix("Item 1: ").encode()) <= FBL9_V2.item_bytes
    assert second == "Item 2: Refill pack for the tissue box (category: Home)"  # short: kept whole
    # JSON mode keeps its instruction in the user turn and drops the letter question.
    as_json = FBL9_V2.messages(pair, plan, as_json=True)
    assert FBL9_V2.question not in as_json[0]["content"] and "JSON" in as_json[1]["content"]
    # v1's text is unchanged by v2's options.
    assert FBL9_V1.user(pair, plan).endswith(FBL9_V1.question) and long_title in FBL9_V1.user(pair, plan)


def test_dividing_out_the_content_free_prior_undoes_a_letter_bias():
    biased = [0.70, 0.20, 0.10]  # the model's answer for a pair
    prior = [0.80, 0.10, 0.10]  # its answer when the items say nothing
    calibrated = divide_prior(biased, prior)
    assert sum(calibrated) == pytest.approx(1.0)
    assert max(range(3), key=calibrated.__getitem__) == 1  # B rose above its prior the most
    assert divide_prior(biased, [1 / 3] * 3) == pytest.approx(biased)  # a flat prior changes nothing


def ballot(code: int | None, probs: dict[int, float] | None = None, error: str | None = None) -> Ballot:
    return Ballot(False, tuple(range(1, 10)), code, probs, error=error)


def test_votes_that_agree_on_the_relation_are_kept():
    proposal = combine("1", [ballot(5, {5: 0.6, 7: 0.2, 8: 0.2}), ballot(7, {7: 0.5, 5: 0.3, 1: 0.2}),
                             ballot(5, {5: 0.9, 8: 0.1})], "m", "v")
    assert proposal.status is ProposalStatus.AGREED and proposal.is_label
    assert proposal.relation is Relation.COMPLEMENTARY
    assert proposal.fine_code == 5  # named by two ballots
    assert proposal.confidence == pytest.approx((0.8 + 0.8 + 0.9) / 3)
    assert "FBL 5" in proposal.rationale


def test_votes_that_disagree_go_to_humans_as_disputed():
    proposal = combine("1", [ballot(1, {1: 0.5, 8: 0.5}), ballot(8, {8: 0.6, 1: 0.4}), ballot(1, {1: 0.7, 8: 0.3})],
                       "m", "v")
    assert proposal.status is ProposalStatus.DISPUTED and not proposal.is_label
    assert proposal.relation is Relation.SUBSTITUTE  # the plurality, shown to the human
    assert proposal.rationale.endswith("(2/3 votes substitute)")


def test_an_unreadable_vote_prevents_agreement_and_none_readable_is_unlabelled():
    partial = combine("1", [ballot(8), ballot(8), ballot(None, error="malformed")], "m", "v")
    assert partial.status is ProposalStatus.DISPUTED
    assert partial.confidence == pytest.approx(2 / 3)
    nothing = combine("1", [ballot(None, error="malformed answer after one re-ask: json: bad")] * 3, "m", "v")
    assert nothing.status is ProposalStatus.UNLABELLED
    assert nothing.relation is None and nothing.fine_code is None and nothing.confidence is None
    assert "malformed" in nothing.rationale


def test_ballots_round_trip_through_json():
    original = Ballot(True, (3, 1, 2, 4, 5, 6, 7, 8, 9), 2, {2: 0.25, 3: 0.75}, "refill", "json", None)
    assert Ballot.from_json(original.as_json()) == original

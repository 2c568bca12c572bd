"""Reading an annotator's answer out of a Label Studio result, and writing one."""

from __future__ import annotations

from annotator.annotations import Answer, answer_result, read_answer
from annotator.interface import fine_choice_label, label_config
from store.taxonomy import FINE_CODES, Relation, Verdict


def test_an_answer_round_trips_through_a_result():
    result = answer_result("complementary", 5, "better together")
    assert read_answer(result) == Answer(Verdict.LABEL, Relation.COMPLEMENTARY, 5, "better together")


def test_a_fine_code_alone_implies_its_relation_and_its_display_label_is_read():
    assert read_answer(answer_result(None, 1)).relation is Relation.SUBSTITUTE
    shown = [{"from_name": "fine_code", "to_name": "item_1", "type": "choices",
              "value": {"choices": [fine_choice_label(9)]}}]
    assert read_answer(shown) == Answer(Verdict.LABEL, Relation.UNRELATED, 9)


def test_a_relation_wins_over_a_contradicting_fine_code():
    assert read_answer(answer_result("substitute", 4)) == Answer(Verdict.LABEL, Relation.SUBSTITUTE, None)


def test_unsure_skipped_empty_or_unknown_answers_decide_nothing():
    assert read_answer(answer_result("unsure", 4)).verdict is Verdict.UNSURE
    assert read_answer(answer_result("complementary"), was_cancelled=True).verdict is Verdict.UNSURE
    assert read_answer([]) == Answer(Verdict.UNSURE)
    assert read_answer(answer_result("maybe")).verdict is Verdict.UNSURE


def test_the_interface_offers_every_relation_fine_code_unsure_and_a_comment():
    config = label_config()
    for text in ("complementary", "substitute", "unrelated", "unsure", 'name="comment"'):
        assert text in config
    for code in FINE_CODES:
        assert f'alias="{code}"' in config and fine_choice_label(code) in config


def test_label_studio_filter_times_are_utc_whether_or_not_naive():
    from datetime import UTC, datetime, timedelta, timezone

    from annotator.label_studio import ls_time

    naive = datetime(2026, 1, 2, 3, 4, 5, 600)
    aware = datetime(2026, 1, 2, 5, 4, 5, 600, tzinfo=timezone(timedelta(hours=2)))
    assert ls_time(naive) == ls_time(aware) == ls_time(naive.replace(tzinfo=UTC)) == "2026-01-02T03:04:05.000600Z"

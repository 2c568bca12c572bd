"""Translate between an answer (relation, fine code, unsure, comment) and a Label Studio result.

A result is the list of regions Label Studio stores for an annotation or a prediction:
``[{"from_name": "relation", "to_name": "item_1", "type": "choices",
"value": {"choices": ["complementary"]}}, ...]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from annotator.interface import COMMENT, FINE_CODE, RELATION, TARGET, UNSURE
from store.taxonomy import FINE_CODES, Relation, Verdict, relation_of_fine


@dataclass(frozen=True)
class Answer:
    """What one annotation says, in the store's terms (fine code in the order shown)."""

    verdict: Verdict
    relation: Relation | None = None
    fine_code: int | None = None
    comment: str | None = None


def answer_result(relation: str | None, fine_code: int | None = None,
                  comment: str | None = None) -> list[dict[str, Any]]:
    """The result regions for an answer; ``relation`` may be ``"unsure"``.

    Used for the LLM's pre-annotation and for answers given through the API.
    """
    result: list[dict[str, Any]] = []
    if relation is not None:
        result.append(_choices(RELATION, str(relation)))
    if fine_code is not None:
        result.append(_choices(FINE_CODE, str(fine_code)))
    if comment:
        result.append({"from_name": COMMENT, "to_name": TARGET, "type": "textarea",
                       "value": {"text": [comment]}})
    return result


def _choices(name: str, choice: str) -> dict[str, Any]:
    return {"from_name": name, "to_name": TARGET, "type": "choices", "value": {"choices": [choice]}}


_LEADING_CODE = re.compile(r"^\s*(\d)\b")


def _fine(choice: str) -> int | None:
    """A fine code from its alias ("4") or its displayed label ("4 · must be combined ...")."""
    match = _LEADING_CODE.match(choice)
    code = int(match.group(1)) if match else None
    return code if code in FINE_CODES else None


def read_answer(result: Sequence[Mapping[str, Any]] | None, was_cancelled: bool = False) -> Answer:
    """The answer an annotation result gives.

    A skipped (cancelled) or empty annotation is ``unsure``: it decides nothing and the pair
    needs someone else. A relation wins over a fine code that contradicts it (the fine code is
    then dropped); a fine code alone implies its relation.
    """
    choices: dict[str, str] = {}
    comment = None
    for region in result or ():
        value = region.get("value") or {}
        name = region.get("from_name")
        if name == COMMENT and value.get("text"):
            comment = "\n".join(str(t) for t in value["text"]).strip() or None
        elif name in (RELATION, FINE_CODE) and value.get("choices"):
            choices[name] = str(value["choices"][0])
    fine = _fine(choices[FINE_CODE]) if FINE_CODE in choices else None
    chosen = choices.get(RELATION, "").strip().lower()
    if was_cancelled or chosen == UNSURE or (not chosen and fine is None):
        return Answer(Verdict.UNSURE, comment=comment)
    try:
        relation = Relation(chosen) if chosen else relation_of_fine(fine)  # type: ignore[arg-type]
    except ValueError:
        return Answer(Verdict.UNSURE, comment=comment)
    if fine is not None and relation_of_fine(fine) is not relation:
        fine = None
    return Answer(Verdict.LABEL, relation, fine, comment)

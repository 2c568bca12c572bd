"""The label taxonomy: KARL's three coarse relations and the nine FBL2023 fine codes."""

from __future__ import annotations

from enum import StrEnum


class Relation(StrEnum):
    COMPLEMENTARY = "complementary"
    SUBSTITUTE = "substitute"
    UNRELATED = "unrelated"


RELATIONS: tuple[str, ...] = tuple(r.value for r in Relation)


class LabelSource(StrEnum):
    HUMAN = "human"
    LLM = "llm"
    IMPORT = "import"
    MODEL = "model"


class Verdict(StrEnum):
    """What one label event says. Only ``label`` carries a relation and counts as a vote."""

    LABEL = "label"
    UNSURE = "unsure"  # the annotator could not decide: route the pair to someone else
    RETRACTED = "retracted"  # the annotation was deleted in Label Studio
    UNLABELLED = "unlabelled"  # an LLM answer that could not be read, never a label


FINE_CODES: dict[int, str] = {
    1: "same function and usage (substitute)",
    2: "item 1 is replenished with item 2",
    3: "item 2 is replenished with item 1",
    4: "must be combined to be usable",
    5: "item 1 is more useful with item 2",
    6: "item 2 is more useful with item 1",
    7: "more useful when combined",
    8: "no relationship",
    9: "seems related, hard to verbalise",
}

_FINE_TO_RELATION = {1: Relation.SUBSTITUTE, 8: Relation.UNRELATED, 9: Relation.UNRELATED}
# Directional codes swap meaning when the two items swap places.
_MIRRORED_FINE = {2: 3, 3: 2, 5: 6, 6: 5}

# FBL2024 (and the project's own 3-code files): 1 substitute, 2 complementary, 3 other.
FBL2024_CODES: dict[int, Relation] = {
    1: Relation.SUBSTITUTE,
    2: Relation.COMPLEMENTARY,
    3: Relation.UNRELATED,
}


def relation_of_fine(code: int) -> Relation:
    """Map a fine FBL code to its coarse relation (1 → substitute, 2–7 → complementary, 8–9 → unrelated)."""
    if code not in FINE_CODES:
        raise ValueError(f"unknown fine FBL code {code!r} (expected 1–9)")
    return _FINE_TO_RELATION.get(code, Relation.COMPLEMENTARY)


def mirror_fine(code: int) -> int:
    """The same fine label seen with the two items in the other order."""
    return _MIRRORED_FINE.get(code, code)


def parse_relation(text: str) -> Relation:
    """Accept a relation name (any case) or a common alias; raise ValueError otherwise."""
    key = text.strip().lower()
    aliases = {"other": Relation.UNRELATED, "none": Relation.UNRELATED, "complement": Relation.COMPLEMENTARY}
    if key in aliases:
        return aliases[key]
    try:
        return Relation(key)
    except ValueError:
        raise ValueError(f"unknown relation {text!r} (expected one of {', '.join(RELATIONS)})") from None


def parse_code(text: str) -> int | None:
    """A label code written in ASCII digits (``"4"``); None for anything else.

    ``str.isdigit`` also accepts ``"²"`` (which ``int`` then refuses) and ``int`` reads ``"٣"``
    (Arabic-Indic three) as 3: neither is a code in a label file. Short strings only, so a
    thousand-digit number is simply not a code rather than a conversion error.
    """
    if text.isascii() and text.isdigit() and len(text) <= 9:
        return int(text)
    return None


class MajorityRule(StrEnum):
    """How three (or more) answers become one label.

    ``coarse``: strict majority over the coarse relations (the datasets README's rule:
    FBL2023 → 1,701 unrelated / 631 complementary / 411 substitute).
    ``fine``: strict majority over the fine FBL codes, mapped to a relation afterwards
    (KARL's rule: 2,625 FBL2023 pairs). Answers without a fine code vote with their relation.
    """

    COARSE = "coarse"
    FINE = "fine"

"""Versioned prompt templates and the vote plan (which item order and option order each vote uses).

A template states the nine FBL2023 function-based definitions as lettered options and
shows the two items (title, category, description; Japanese or English as the catalogue
has them). The options live in the system message and the items in the user message, so
every pair asked with the same option order shares one prompt prefix (the local backend
computes its KV cache once). Since only the user message is paid for per pair, ``fbl9-v2``
moves the question into the system message too and clips each item's text to a byte budget
(bytes, not characters: a byte-level tokenizer spends a token per one to two bytes of Japanese).
``fbl9-v3-k<k>`` shows, before the pair, the k most similar human-verified pairs with their
answers (retrieved demonstrations, :mod:`annotator.llm.demonstrations`), each read in the
vote's own item and option order; it is not calibrated (the demonstrations differ per pair,
so a content-free prior would cost a second pass per pair).

Changing any text here changes what the model is asked: give it a new version.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from annotator.llm.base import PairText
from annotator.llm.demonstrations import Demonstration
from store.taxonomy import mirror_fine

LETTERS = "ABCDEFGHI"

# The FBL2023 codes as statements about "item 1" and "item 2" (the datasets README).
DEFINITIONS_V1: dict[int, str] = {
    1: "Item 1 and item 2 have the same function and usage: one can replace the other.",
    2: "Item 1 is replenished with item 2: item 2 is a refill or consumable for item 1.",
    3: "Item 2 is replenished with item 1: item 1 is a refill or consumable for item 2.",
    4: "Item 1 and item 2 must be combined to be usable at all.",
    5: "Item 1 is more useful with item 2.",
    6: "Item 2 is more useful with item 1.",
    7: "Item 1 and item 2 are each more useful when combined.",
    8: "Item 1 and item 2 have no relationship.",
    9: "Item 1 and item 2 seem related, but the relation is hard to put into words.",
}


@dataclass(frozen=True)
class VotePlan:
    """How one vote puts the question: items swapped or not, and the order of the options."""

    reversed: bool
    option_order: tuple[int, ...]  # fine codes in the order of LETTERS

    def letter_of(self, code: int) -> str:
        return LETTERS[self.option_order.index(code)]

    def code_of(self, letter: str) -> int | None:
        index = LETTERS.find(letter.strip().upper()[:1]) if letter.strip() else -1
        return self.option_order[index] if 0 <= index < len(self.option_order) else None


@dataclass(frozen=True)
class PromptTemplate:
    version: str
    definitions: dict[int, str]
    preamble: str
    question: str
    json_instruction: str
    question_in_system: bool = False  # the letter question ends the shared system message
    item_bytes: int | None = None  # each item's text clipped to this many UTF-8 bytes
    calibrated: bool = False  # backends divide out the answer prior of a content-free pair
    shots: int = 0  # retrieved demonstrations shown before the pair

    def system(self, plan: VotePlan, as_json: bool = False) -> str:
        options = "\n".join(
            f"{LETTERS[i]}. {self.definitions[code]}" for i, code in enumerate(plan.option_order)
        )
        text = f"{self.preamble}\n\n{options}"
        return f"{text}\n\n{self.question}" if self.question_in_system and not as_json else text

    def user(self, pair: PairText, plan: VotePlan, as_json: bool = False,
             demonstrations: Sequence[Demonstration] = ()) -> str:
        shown = "".join(f"{self._items(d.pair, plan)}\nAnswer: {self._answer(d, plan)}\n\n" for d in demonstrations)
        items = shown + self._items(pair, plan)
        if as_json:
            return f"{items}\n\n{self.json_instruction}"
        return items if self.question_in_system else f"{items}\n\n{self.question}"

    def messages(self, pair: PairText, plan: VotePlan, as_json: bool = False) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.system(plan, as_json)},
            {"role": "user", "content": self.user(pair, plan, as_json)},
        ]

    def _items(self, pair: PairText, plan: VotePlan) -> str:
        first, second = (self._describe(*item) for item in _items(pair, plan.reversed))
        return f"Item 1: {first}\nItem 2: {second}"

    @staticmethod
    def _answer(demonstration: Demonstration, plan: VotePlan) -> str:
        """The demonstration's letter in this vote's option order, its code read in the vote's item order."""
        code = demonstration.fine_code
        return plan.letter_of(mirror_fine(code) if plan.reversed else code)

    def _describe(self, title: str, category: str | None, description: str | None) -> str:
        text = title.strip()[:MAX_FIELD_CHARS]
        if category:
            text += f" (category: {category.strip()[:MAX_FIELD_CHARS]})"
        if description:
            text += f" — {description.strip()[:MAX_FIELD_CHARS]}"
        return text if self.item_bytes is None else _clip(" ".join(text.split()), self.item_bytes)


MAX_FIELD_CHARS = 200
CONTENT_FREE = PairText("content-free", "N/A", "N/A")  # Zhao et al. 2021, "Calibrate before use"


def _clip(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes at a character boundary, marked with "…"."""
    if len(text.encode()) <= max_bytes:
        return text
    return text.encode()[: max_bytes - 3].decode(errors="ignore").rstrip() + "…"


def _items(pair: PairText, reversed_: bool) -> tuple[tuple[str, str | None, str | None], ...]:
    a = (pair.title_a, pair.category_a, pair.description_a)
    b = (pair.title_b, pair.category_b, pair.description_b)
    return (b, a) if reversed_ else (a, b)


FBL9_V1 = PromptTemplate(
    version="fbl9-v1",
    definitions=DEFINITIONS_V1,
    preamble=(
        "You label how two products relate by what they do for the buyer (function-based "
        "labels). Product names may be in Japanese or English. Read item 1 and item 2, then "
        "choose the one statement below that fits best."
    ),
    question="Which statement fits best? Answer with its letter only.",
    json_instruction=(
        'Which statement fits best? Reply with JSON only, exactly like '
        '{"answer": "A", "rationale": "one short sentence"}.'
    ),
)

# v2: the same definitions; the question moves into the shared system message, each item
# is clipped to 80 bytes (about 26 Japanese characters, or 80 of an English title), and the
# letter probabilities are calibrated against a content-free pair.
FBL9_V2 = PromptTemplate(
    version="fbl9-v2",
    definitions=DEFINITIONS_V1,
    preamble=FBL9_V1.preamble,
    question="Answer with the letter of the statement that fits best, and nothing else.",
    json_instruction=FBL9_V1.json_instruction,
    question_in_system=True,
    item_bytes=80,
    calibrated=True,
)

# v3: v2's text, uncalibrated, with k retrieved demonstrations (k = 0 is the ablation).
FBL9_V3 = tuple(
    PromptTemplate(
        version=f"fbl9-v3-k{shots}",
        definitions=DEFINITIONS_V1,
        preamble=FBL9_V1.preamble,
        question=FBL9_V2.question,
        json_instruction=FBL9_V1.json_instruction,
        question_in_system=True,
        item_bytes=80,
        shots=shots,
    )
    for shots in (0, 4, 8)
)

TEMPLATES: dict[str, PromptTemplate] = {t.version: t for t in (FBL9_V1, FBL9_V2, *FBL9_V3)}
DEFAULT_PROMPT_VERSION = FBL9_V2.version


def get_template(version: str) -> PromptTemplate:
    try:
        return TEMPLATES[version]
    except KeyError:
        raise ValueError(
            f"unknown prompt version {version!r} (known: {', '.join(sorted(TEMPLATES))})"
        ) from None


def vote_plans(template: PromptTemplate, votes: int) -> list[VotePlan]:
    """The question variants for ``votes`` votes: the first asks plainly, every second one
    swaps the items, and all but the first shuffle the options (a fixed shuffle per vote,
    so a prompt version always asks the same questions)."""
    if votes < 1:
        raise ValueError("votes must be at least 1")
    rng = random.Random(0)
    codes = sorted(template.definitions)
    plans = [VotePlan(False, tuple(codes))]
    for i in range(1, votes):
        order = codes[:]
        rng.shuffle(order)
        plans.append(VotePlan(i % 2 == 1, tuple(order)))
    return plans

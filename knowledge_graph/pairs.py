"""Cost-aware entity-pair generation (LLM-KERec): which entity pairs are worth an LLM question.

Entities are ranked by popularity (items, or exposures) and cut into a head and a tail.
Every question costs the same, but a head entity's answer reaches many more items, so:

* head × head — all pairs, up to ``head_head_cap``;
* head × tail — each tail entity is paired with ``per_tail`` head entities;
* tail × tail — at most ``tail_tail_cap`` pairs.

Within a segment, pairs with more behaviour evidence (items of the two entities bought
together) come first, then more popular pairs; pairs already judged are skipped.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

HEAD_HEAD, HEAD_TAIL, TAIL_TAIL = "head×head", "head×tail", "tail×tail"


@dataclass(frozen=True)
class PairPlan:
    head_share: float = 0.2
    head_head_cap: int = 2000
    per_tail: int = 3
    tail_tail_cap: int = 200
    total_cap: int | None = None
    seed: int = 0


@dataclass(frozen=True, slots=True)
class EntityPair:
    a: str
    b: str
    segment: str
    affinity: int


def split_segments(popularity: Mapping[str, int], head_share: float) -> tuple[list[str], list[str]]:
    ranked = sorted(popularity, key=lambda e: (-popularity[e], e))
    cut = max(1, round(len(ranked) * head_share)) if ranked else 0
    return ranked[:cut], ranked[cut:]


def generate_pairs(
    popularity: Mapping[str, int],
    plan: PairPlan = PairPlan(),
    affinity: Mapping[frozenset[str], int] | None = None,
    judged: set[frozenset[str]] | None = None,
) -> list[EntityPair]:
    """Entity pairs to ask about, in asking order (head × head first)."""
    affinity = affinity or Counter()
    judged = judged or set()
    head, tail = split_segments(popularity, plan.head_share)

    def rank(pairs):
        return sorted(pairs, key=lambda p: (-affinity.get(frozenset(p), 0),
                                            -(popularity[p[0]] * popularity[p[1]]), p))

    def keep(pairs, segment, cap):
        fresh = [(a, b) for a, b in pairs if frozenset((a, b)) not in judged]
        return [EntityPair(a, b, segment, affinity.get(frozenset((a, b)), 0)) for a, b in rank(fresh)[:cap]]

    chosen = keep(combinations(sorted(head), 2), HEAD_HEAD, plan.head_head_cap)
    for entity in tail:
        chosen += keep(((min(entity, h), max(entity, h)) for h in head), HEAD_TAIL, plan.per_tail)
    tail_pairs = list(combinations(sorted(tail), 2))
    if len(tail_pairs) > 50 * plan.tail_tail_cap:  # do not rank millions of tail pairs
        rng = random.Random(plan.seed)
        tail_pairs = rng.sample(tail_pairs, 50 * plan.tail_tail_cap) + [
            tuple(sorted(p)) for p in affinity if len(p) == 2 and set(p) <= set(tail)]
    chosen += keep(sorted(set(tail_pairs)), TAIL_TAIL, plan.tail_tail_cap)
    return chosen[: plan.total_cap] if plan.total_cap is not None else chosen


def segment_counts(pairs: list[EntityPair]) -> dict[str, int]:
    return dict(sorted(Counter(p.segment for p in pairs).items()))

"""Who answers the simulator's queries. An oracle is any callable that takes the selected
pairs and returns one relation (or None: no answer) per pair, in order.

Adding an oracle (the LLM labeller) means writing one such callable; the simulator does not
change. An oracle must not read the pool file's answers unless it *is* the ground truth.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from classifier.data import PairSet


class Oracle(Protocol):
    name: str

    def __call__(self, queries: PairSet) -> list[str | None]:
        """A relation name (``complementary`` / ``substitute`` / ``unrelated``) or None per pair.

        ``queries`` carries no labels; each pair's items are ``queries.items[queries.ia[i]]``
        and ``queries.items[queries.ib[i]]`` (title, category path).
        """
        ...


class TruthOracle:
    """The human majority label recorded in the pool file (None where the annotators split)."""

    name = "truth"

    def __init__(self, pool: PairSet):
        self._truth: dict[Hashable, str | None] = dict(zip(pool.keys, pool.labels.tolist(), strict=True))

    def __call__(self, queries: PairSet) -> list[str | None]:
        return [self._truth.get(key) for key in queries.keys]

"""The LLM as the simulator's oracle (KARL's full setting): agreed proposals are labels.

It answers like ``active_learning.oracle.Oracle``: one relation, or None (not labelled),
per queried pair. It reads only the pairs' item texts (``items``, ``ia``, ``ib``, ``keys``
of a ``classifier.data.PairSet``), never their answers. A disputed or unlabelled proposal
is None, like a pair the annotators could not agree on. Proposals go through the
persistent cache, so repeated simulations over one pool pay for each pair once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from annotator.llm.base import Labeller
from annotator.llm.cache import propose_cached
from annotator.llm.pairs import register_pairs
from store.formats.records import ItemRecord, PairRow

FILE_SOURCE = "file"


class LlmOracle:
    name = "llm"

    def __init__(self, engine: Engine, labeller: Labeller):
        self.engine = engine
        self.labeller = labeller

    def __call__(self, queries: Any) -> list[str | None]:
        pair_ids = self.pair_ids(queries)
        proposals = propose_cached(self.engine, self.labeller, pair_ids)
        return [
            proposals[pid].relation.value if proposals[pid].is_label else None  # type: ignore[union-attr]
            for pid in pair_ids
        ]

    def pair_ids(self, queries: Any) -> list[int]:
        """Store pair ids: a store pair set's keys already are; a file's pairs are registered."""
        if all(isinstance(key, int) for key in queries.keys):
            return list(queries.keys)
        rows = [
            PairRow(0, _record(queries.items[a]), _record(queries.items[b]))
            for a, b in zip(queries.ia.tolist(), queries.ib.tolist(), strict=True)
        ]
        with self.engine.begin() as conn:
            return [pid for pid, _reversed in register_pairs(conn, rows)]


def _record(item: Any) -> ItemRecord:
    """A file item (key: (source, external id)) as the store knows it."""
    source, external_id = item.key if isinstance(item.key, tuple) else (FILE_SOURCE, str(item.key))
    return ItemRecord(source, external_id, item.title, item.category_path)

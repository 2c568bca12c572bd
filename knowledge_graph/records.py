"""Plain records the knowledge graph is built from, independent of where they were read.

The store adapter (:mod:`knowledge_graph.store_io`) and the BundleRec evaluation
(:mod:`knowledge_graph.bundles`) both produce these, so every algorithm below runs on
either without knowing about the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from store.formats.records import CatalogueItem

__all__ = ["CatalogueItem", "Evidence"]  # CatalogueItem: the store's item read-model, shared with the classifier


@dataclass(frozen=True, slots=True)
class Evidence:
    """One verified (or, when asked, unverified) relation between two things.

    Between two catalogue items (``kind="item"``) it is spread over their entities; between
    two entities (``kind="entity"``: a judged entity pair) it names the entities directly.
    ``source`` is who decided (human, llm, import); ``rounds`` the acquisition rounds of
    its labels; ``verified`` whether it passed the verified-label rule.
    """

    a: str
    b: str
    relation: str
    kind: str = "item"
    source: str = "human"
    verified: bool = True
    rounds: tuple[int, ...] = field(default=())

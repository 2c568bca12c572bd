"""Query slices of a recall evaluation: where complementarity lives, and where history is missing.

A query is a held-out trigger item and the partners it was bought with. Slicing keeps the
trigger and narrows its targets:

* ``all`` — every partner;
* ``complementary`` — partners of a *different kind* than the trigger (a tent → a sleeping
  bag), the case LLM-KERec's graph is for;
* ``same-kind`` — the other partners ("a different style of top"), which text similarity
  finds directly;
* ``cold`` — every partner, for triggers absent from the training sessions: history has
  nothing to say about them.

Kind: two items differ in kind when their category leaves differ and, with
``by_entity``, they share no entity. BundleRec uses both (its leaves are coarse, "Tops");
Instacart baskets use the aisle alone, as the aisle is a precise kind ("yogurt",
"fresh fruits"). A trigger or partner without a category leaf has no known kind, and its
partners go to neither kind slice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from knowledge_graph.entities import category_parts
from knowledge_graph.records import CatalogueItem

ALL, COMPLEMENTARY, SAME_KIND, COLD = "all", "complementary", "same-kind", "cold"
SLICES = (ALL, COMPLEMENTARY, SAME_KIND, COLD)

Queries = dict[str, set[str]]


def category_leaf(item: CatalogueItem) -> str | None:
    parts = category_parts(item.category_path)
    return parts[-1].lower() if parts else None


def slice_queries(
    queries: Mapping[str, set[str]],
    items: Sequence[CatalogueItem],
    entities: Mapping[str, Sequence[str]],
    trained: set[str],
    *,
    by_entity: bool,
) -> dict[str, Queries]:
    """The four slices of ``queries``; ``trained`` is the set of items seen in training sessions."""
    leaves = {item.key: category_leaf(item) for item in items}

    def differ(a: str, b: str) -> bool | None:
        if leaves.get(a) is None or leaves.get(b) is None:
            return None
        if leaves[a] == leaves[b]:
            return False
        return not (by_entity and set(entities.get(a, ())) & set(entities.get(b, ())))

    slices: dict[str, Queries] = {name: {} for name in SLICES}
    for trigger, partners in queries.items():
        slices[ALL][trigger] = set(partners)
        kinds = {partner: differ(trigger, partner) for partner in partners}
        for name, wanted in ((COMPLEMENTARY, True), (SAME_KIND, False)):
            chosen = {p for p, kind in kinds.items() if kind is wanted}
            if chosen:
                slices[name][trigger] = chosen
        if trigger not in trained:
            slices[COLD][trigger] = set(partners)
    return slices

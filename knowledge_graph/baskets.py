"""Instacart baskets as a recall source: each order is a session and its items were taken together.

Unlike BundleRec there is no annotator cutting bundles out of a session: the whole order
is what was bought together, so an order is both the session (exposures, co-occurrence)
and the bundle (the graph's evidence and the held-out targets). Orders are split whole, as
BundleRec sessions are. Every product of ``products.csv`` is a candidate, bought or not:
narrowing the catalogue to the products of the order file would use the held-out orders to
choose the candidates. A product's category path is its department and aisle, so the aisle is
its kind.
"""

from __future__ import annotations

from pathlib import Path

from knowledge_graph.bundles import BundleDomain
from knowledge_graph.records import CatalogueItem
from store.errors import BadInput
from store.formats import instacart


def load_baskets(directory: Path) -> BundleDomain:
    """An Instacart folder (``products.csv`` and ``order_products__train.csv``) as a recall domain."""
    if not instacart.is_instacart_dir(directory) or not (directory / instacart.BASKETS).exists():
        raise BadInput(f"not an Instacart folder (needs products.csv and {instacart.BASKETS})", directory)
    orders = instacart.read_baskets(directory)
    items = [CatalogueItem(f"{r.source}:{r.external_id}", r.title, r.category_path)
             for r in instacart.read_items(directory)]
    known = {item.key for item in items}
    sessions = {}
    for order, products in orders.items():
        members = [key for key in (f"{instacart.SOURCE}:{p}" for p in products) if key in known]
        if len(members) >= 2:
            sessions[order] = members
    if not sessions:
        raise BadInput("no order with two known products", directory / instacart.BASKETS)
    return BundleDomain("instacart", items, sessions, dict(sessions), {order: order for order in sessions})

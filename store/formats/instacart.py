"""Instacart: products (aisle and department as the category path) and baskets."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path

from store.errors import BadInput
from store.formats.lines import table_rows
from store.formats.records import BehaviourRow, ItemRecord
from store.validation import fit_item

SOURCE = "instacart"
BASKETS = "order_products__train.csv"


def is_instacart_dir(path: Path) -> bool:
    return path.is_dir() and (path / "products.csv").exists()


def _names(path: Path, id_col: str, name_col: str) -> dict[str, str]:
    if not path.exists():
        return {}
    return {row[id_col].strip(): row[name_col].strip() for _line, row in table_rows(path, ",")}


def read_items(directory: Path) -> Iterator[ItemRecord]:
    aisles = _names(directory / "aisles.csv", "aisle_id", "aisle")
    departments = _names(directory / "departments.csv", "department_id", "department")
    path = directory / "products.csv"
    for line, row in table_rows(path, ","):
        product_id, name = row.get("product_id", "").strip(), row.get("product_name", "").strip()
        if not product_id:
            raise BadInput("missing product_id", path, line)
        if not name:
            raise BadInput("missing product_name", path, line)
        fit_item(SOURCE, product_id, path, line)
        parts = [departments.get(row.get("department_id", "").strip()), aisles.get(row.get("aisle_id", "").strip())]
        category = " > ".join(part for part in parts if part) or None
        yield ItemRecord(SOURCE, product_id, name, category, line=line)


def read_baskets(directory: Path) -> dict[str, list[str]]:
    """Each order's product ids, in cart order, each once; a row without both ids names its line."""
    path = directory / BASKETS
    baskets: dict[str, list[str]] = defaultdict(list)
    for line, row in table_rows(path, ","):
        order, product = row.get("order_id", "").strip(), row.get("product_id", "").strip()
        if not order or not product:
            raise BadInput("missing order_id or product_id", path, line)
        if product not in baskets[order]:
            baskets[order].append(product)
    return dict(baskets)


def read_behaviour(directory: Path, min_count: int = 1) -> Iterator[BehaviourRow]:
    """Pairs of products in one basket, counted over baskets (kept when ``count >= min_count``)."""
    counts: Counter[tuple[str, str]] = Counter()
    for products in read_baskets(directory).values():
        counts.update(combinations(sorted(products), 2))
    for (a, b), count in counts.items():
        if count >= min_count:
            yield BehaviourRow(SOURCE, a, b, "co_basket", BASKETS, count)

"""Slices and the hybrid on a constructed catalogue where the right answer is known, and the basket
source on a small real sample of Instacart."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from knowledge_graph.baskets import load_baskets
from knowledge_graph.bundles import BundleDomain
from knowledge_graph.evaluation import RecallConfig, Source, evaluate_source
from knowledge_graph.records import CatalogueItem
from knowledge_graph.slices import slice_queries
from store.errors import BadInput

# Kinds that go together: the first of each pair is bought with the second, never with its own kind.
PARTNERS = [
    (("Tents", "dome tent"), ("Sleeping Bags", "sleeping bag")),
    (("Printers", "laser printer"), ("Toner", "toner cartridge")),
    (("Grills", "charcoal grill"), ("Charcoal", "lump charcoal")),
    (("Phones", "smartphone"), ("Screen Protectors", "screen protector")),
    (("Kettles", "electric kettle"), ("Tea", "green tea")),
    (("Bicycles", "mountain bike"), ("Helmets", "bike helmet")),
]
# Kinds bought in near-twins: two variants of one product, which only their titles link.
TWINS = [("Shirts", "oxford shirt"), ("Mugs", "coffee mug"), ("Lamps", "desk lamp"), ("Socks", "crew sock")]
BRANDS = ["Acme", "Borealis", "Cobalt", "Dunmore", "Everly", "Fenwick", "Galloway", "Harlow"]
COLOURS = ["Red", "Navy", "Olive", "Ivory", "Slate", "Amber", "Teal", "Plum"]


def constructed_domain() -> BundleDomain:
    items, sessions = [], {}
    for (kind_a, noun_a), (kind_b, noun_b) in PARTNERS:
        for i, brand in enumerate(BRANDS):
            a = CatalogueItem(f"c:{noun_a}:{i}", f"{brand} {noun_a.title()}", f"Store > {kind_a}")
            b = CatalogueItem(f"c:{noun_b}:{i}", f"{BRANDS[(i + 3) % 8]} {noun_b.title()}", f"Store > {kind_b}")
            items += [a, b]
            sessions[f"s:{noun_a}:{i}"] = [a.key, b.key]
    for kind, noun in TWINS:
        for i, (brand, colour) in enumerate(zip(BRANDS, COLOURS, strict=True)):
            pair = [CatalogueItem(f"c:{noun}:{i}:{variant}", f"{brand} {colour} {noun.title()} {variant}",
                                  f"Store > {kind}") for variant in ("Classic", "Classic Plus")]
            items += pair
            sessions[f"s:{noun}:{i}"] = [item.key for item in pair]
    return BundleDomain("constructed", items, sessions, dict(sessions), {s: s for s in sessions})


def test_slices_split_partners_by_kind_and_find_cold_triggers():
    items = [CatalogueItem("t", "Dome Tent", "Outdoor > Tents"), CatalogueItem("b", "Sleeping Bag", "Outdoor > Bags"),
             CatalogueItem("t2", "Cabin Tent", "Outdoor > Tents"), CatalogueItem("x", "Tent Bag", "Outdoor > Bags"),
             CatalogueItem("n", "Mystery", None)]
    entities = {"t": ("tent",), "b": ("sleeping bag",), "t2": ("tent",), "x": ("tent",), "n": ()}
    queries = {"t": {"b", "t2", "x", "n"}, "b": {"t"}}
    by_entity = slice_queries(queries, items, entities, trained={"b"}, by_entity=True)
    assert by_entity["all"] == queries
    assert by_entity["complementary"] == {"t": {"b"}, "b": {"t"}}  # x shares the entity "tent"
    assert by_entity["same-kind"] == {"t": {"t2", "x"}}  # n has no category: neither kind
    assert by_entity["cold"] == {"t": queries["t"]}
    by_leaf = slice_queries(queries, items, entities, trained=set(), by_entity=False)
    assert by_leaf["complementary"] == {"t": {"b", "x"}, "b": {"t"}}


@pytest.mark.slow
def test_on_a_constructed_catalogue_the_graph_finds_cross_kind_partners_text_finds_twins_the_hybrid_both(tmp_path):
    config = RecallConfig(ks=(10,), test_share=0.25, gnn_epochs=10, eei_epochs=4, min_count=2)
    result = evaluate_source(Source(constructed_domain(), "bundles", kind_by_entity=True), config, tmp_path)
    slices = {name: {method: figures["recall@10"] for method, figures in s["methods"].items()}
              for name, s in result["slices"].items()}
    assert result["slices"]["complementary"]["queries"] >= 8 and result["slices"]["same-kind"]["queries"] >= 8
    # Every test trigger is new: history has nothing to say, the kinds do.
    assert result["slices"]["cold"]["queries"] == result["slices"]["all"]["queries"]
    assert slices["complementary"]["graph+eei"] >= 0.9 > slices["complementary"]["title-similarity"] + 0.5
    assert slices["same-kind"]["title-similarity"] >= 0.9 > slices["same-kind"]["graph"] + 0.5
    assert slices["all"]["cooccurrence"] < 0.3
    for name, methods in slices.items():
        best = max(methods[m] for m in ("popularity", "cooccurrence", "title-similarity", "graph", "graph+eei"))
        assert methods["hybrid"] >= best - 1e-9, (name, methods)


def _instacart_sample(source: Path, target: Path, orders: int) -> Path:
    """The first ``orders`` orders of the real Instacart file, with the catalogue files as they are."""
    target.mkdir()
    for name in ("products.csv", "aisles.csv", "departments.csv"):
        (target / name).write_bytes((source / name).read_bytes())
    rows, seen = [], set()
    with (source / "order_products__train.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            seen.add(row["order_id"])
            if len(seen) > orders:
                break
            rows.append(row)
    with (target / "order_products__train.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["order_id", "product_id", "add_to_cart_order", "reordered"])
        writer.writeheader()
        writer.writerows(rows)
    return target


@pytest.mark.datasets
def test_instacart_baskets_load_as_sessions_split_whole_and_slice_by_aisle(datasets, tmp_path):
    folder = _instacart_sample(datasets / "instacart", tmp_path / "instacart", 300)
    domain = load_baskets(folder)
    assert domain.name == "instacart" and 250 <= len(domain.sessions) <= 300
    in_sessions = {key for members in domain.sessions.values() for key in members}
    with (folder / "order_products__train.csv").open(newline="") as f:
        bought = {f"instacart:{row['product_id']}" for row in csv.DictReader(f)}
    with (folder / "products.csv").open(newline="") as f:
        catalogue = {f"instacart:{row['product_id']}" for row in csv.DictReader(f)}
    assert in_sessions <= bought < catalogue == {item.key for item in domain.items}  # every product a candidate
    assert all(item.category_path and " > " in item.category_path for item in domain.items)
    split = domain.split(0.2, seed=0)
    queries = split.test_queries()
    held = {key for members in split.test_bundles.values() for key in members}
    assert set(queries) <= held and len(split.train_sessions) == len(domain.sessions) - len(split.test_bundles)
    trained = {key for members in split.train_sessions.values() for key in members}
    slices = slice_queries(queries, domain.items, {}, trained, by_entity=False)
    aisle = {item.key: item.category_path.split(" > ")[-1] for item in domain.items}
    assert slices["complementary"] and slices["same-kind"] and slices["cold"]
    assert all(aisle[t] != aisle[p] for t, ps in slices["complementary"].items() for p in ps)
    assert all(aisle[t] == aisle[p] for t, ps in slices["same-kind"].items() for p in ps)


def test_a_folder_without_baskets_is_refused(tmp_path):
    (tmp_path / "products.csv").write_text("product_id,product_name,aisle_id,department_id\n1,Milk,1,1\n")
    with pytest.raises(BadInput, match="order_products__train.csv"):
        load_baskets(tmp_path)

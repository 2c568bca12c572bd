"""Entity extraction on real catalogues: Instacart's products and BundleRec's electronic and clothing.

For each catalogue, the dictionary (``build_dictionary``) and the extraction (``extract``) a graph
is built from, and what they give:

- coverage: items with at least one entity, and items with a title entity (on Instacart every
  item has an aisle, so the title share is the figure that moves);
- unit entities: entities whose head is a unit ("oz", "fl oz", "count"; ``unit_entities``) and the
  share of items placed under one; every such item is an extraction error;
- the largest entities, and the largest title entities (where a wrong head shows first).

Catalogues absent from ``$PAIRLOOP_DATASETS`` (default ``../shared/datasets``) are skipped. Writes
``benchmarks/results/entity_coverage.json``.

    .venv/bin/python -m benchmarks entity_coverage [--limit N] [--top 15]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from knowledge_graph.entities import TITLE, build_dictionary, extract, unit_entities
from knowledge_graph.records import CatalogueItem

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("PAIRLOOP_DATASETS", REPO.parent / "shared" / "datasets"))
RESULTS = REPO / "benchmarks" / "results" / "entity_coverage.json"


def instacart_items(directory: Path) -> list[CatalogueItem]:
    from store.formats.instacart import read_items

    return [CatalogueItem(f"{r.source}:{r.external_id}", r.title, r.category_path) for r in read_items(directory)]


def bundlerec_items(directory: Path) -> list[CatalogueItem]:
    from knowledge_graph.bundles import load_domain

    return load_domain(directory).items


CATALOGUES: dict[str, tuple[str, Callable[[Path], list[CatalogueItem]]]] = {
    "instacart": ("instacart", instacart_items),
    "bundlerec-electronic": ("bundlerec/electronic", bundlerec_items),
    "bundlerec-clothing": ("bundlerec/clothing", bundlerec_items),
}


def measure(items: list[CatalogueItem], top: int) -> dict:
    """Coverage, unit entities and the largest entities of one catalogue."""
    start = time.perf_counter()
    extraction = extract(items, build_dictionary(items))
    seconds = time.perf_counter() - start
    report = extraction.report()
    units = unit_entities(extraction)
    unit_keys = {key for key, found in extraction.mentions.items() if any(m.entity in units for m in found)}
    titles = Counter(m.entity for found in extraction.mentions.values() for m in found if m.method == TITLE)
    total = report["items"]
    return {
        "items": total,
        "coverage": report["coverage"],
        "title_coverage": round(titles.total() / total, 4) if total else 0.0,
        "entities": report["entities"],
        "unit_entities": units,
        "unit_entity_items": len(unit_keys),
        "unit_entity_share": round(len(unit_keys) / total, 4) if total else 0.0,
        "largest_entities": report["largest_entities"],
        "largest_title_entities": [{"entity": e, "items": n} for e, n in titles.most_common(top)],
        "seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="Only the first N items of each catalogue (0: all).")
    parser.add_argument("--top", type=int, default=15, help="How many of the largest title entities to list.")
    args = parser.parse_args(argv or [])
    results = {}
    for name, (folder, read) in CATALOGUES.items():
        if not (DATASETS / folder).is_dir():
            print(f"{name}: skipped, {DATASETS / folder} is absent")
            continue
        items = read(DATASETS / folder)
        results[name] = found = measure(items[: args.limit] if args.limit else items, args.top)
        units = ", ".join(f"{e} {n}" for e, n in found["unit_entities"].items()) or "none"
        print(f"{name}: {found['items']:,} items, coverage {found['coverage']:.2%}, title entities on "
              f"{found['title_coverage']:.2%}, {found['entities']:,} entities; unit entities: {units} "
              f"({found['unit_entity_share']:.2%} of items); {found['seconds']} s")
        print("  largest title entities: "
              + ", ".join(f"{e['entity']} {e['items']}" for e in found["largest_title_entities"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS}")

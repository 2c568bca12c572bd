"""Entities of FBL's Japanese titles, measured through the CLI a user runs; figures as Markdown.

    .venv/bin/python docs/results/fbl-entities/measure.py [--datasets ../shared/datasets] [--seed 2026]

Imports FBL2023.tsv and FBL2024-dev.tsv into a new SQLite store in a temporary folder and runs
``pairloop graph entities --report``, ``graph build``, ``graph snapshot`` and ``graph recommend``
there (the user's figures). Then, from that snapshot, what ``graph recommend`` answers for every
item (GraphRecall on the snapshot, as the command does, without starting a process per item),
a fixed-seed sample of items with their entities, and two references on the same titles: every
title read by the English head-noun path (the behaviour before the Japanese path), and Sudachi's
split mode B instead of C.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from knowledge_graph.japanese import build_terms, is_japanese
from knowledge_graph.recall import GraphRecall
from knowledge_graph.records import CatalogueItem
from knowledge_graph.snapshots import load_snapshot
from knowledge_graph.text import head_candidates
from store.formats.fbl import guess_scheme, read_fbl

FILES = ("FBL2023.tsv", "FBL2024-dev.tsv")


def pairloop(data: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PAIRLOOP_DATABASE_URL"}
    env["PAIRLOOP_DATA_DIR"] = str(data)
    command = [str(Path(sys.executable).with_name("pairloop")), *args]
    done = subprocess.run(command, cwd=data, env=env, capture_output=True, text=True)
    if done.returncode != expect:
        raise SystemExit(f"pairloop {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


def english_only(items: list[CatalogueItem], min_count: int = 3) -> int:
    """Items placed when every title takes the English path (what `graph entities` did before)."""
    counts = Counter(term for item in items for term in head_candidates(item.title))
    terms = {term for term, n in counts.items() if n >= min_count}
    return sum(any(t in terms for t in head_candidates(item.title)) for item in items)


def split_mode(items: list[CatalogueItem], mode: str) -> dict:
    titles = [item.title for item in items if is_japanese(item.title)]
    dictionary = build_terms(titles, mode=mode)
    found = Counter(dictionary.term(title) for title in titles)
    placed = len(titles) - found.pop(None, 0)
    return {"mode": mode, "items": len(titles), "placed": placed, "coverage": round(placed / len(titles), 4),
            "entities": len(found), "largest": found.most_common(5)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=Path,
                        default=Path(os.environ.get("PAIRLOOP_DATASETS", "../shared/datasets")))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--sample", type=int, default=30)
    args = parser.parse_args(argv)
    fbl = args.datasets.resolve() / "fbl"

    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        pairloop(data, "init")
        for name in FILES:
            pairloop(data, "import", "labels", str(fbl / name))
        entities = json.loads(pairloop(data, "graph", "entities", "--report", "--limit", "100000", "--json").stdout)
        built = json.loads(pairloop(data, "graph", "build", "--top", "1000", "--json").stdout)
        snap = json.loads(pairloop(data, "graph", "snapshot", "--json").stdout)
        graph = load_snapshot(Path(snap["path"])).graph
        recall = GraphRecall(graph)
        answer = {key: recall.empty_reason(key) or "items" for key in sorted(graph.item_entities)}
        answers = Counter(answer.values())
        rng = random.Random(args.seed)
        shown = {kind: rng.choice([key for key, found in answer.items() if found == kind])
                 for kind in ("items", "no_complementary_edge", "no_entity")}
        cli = {kind: pairloop(data, "graph", "recommend", key, "--k", "5").stdout for kind, key in shown.items()}
        unknown = pairloop(data, "graph", "recommend", "askul:no-such-item", expect=2).stderr

    items = sorted(_items(fbl), key=lambda item: item.key)
    titles = {item.key: item.title for item in items}
    sample = rng.sample(sorted(titles), args.sample)

    print(f"## graph entities --report\n\n{entities['matched']:,} of {entities['items']:,} items placed "
          f"({entities['coverage']:.1%}) under {entities['entities']:,} entities; by script: "
          + ", ".join(f"{s} {c['matched']:,} of {c['items']:,}" for s, c in entities["by_script"].items()))
    print("\nlargest entities: " + ", ".join(f"{e['entity']} {e['items']}" for e in entities["largest_entities"]))
    print("\nunmatched (first 25 of {:,}):".format(len(entities["unmatched_items"])))
    for row in entities["unmatched_items"][:25]:
        print(f"- {row['title']}")
    english = english_only(items)
    print(f"\nEnglish path on every title (before): {english:,} of {len(items):,} ({english / len(items):.1%})")
    for mode in ("C", "B"):
        print(f"split mode {mode}: {json.dumps(split_mode(items, mode), ensure_ascii=False)}")

    complementary = [e for e in built["heaviest"] if e["relation"] == "complementary"]
    print(f"\n## graph build\n\n{built['nodes']:,} entities, {built['edges']:,} edges "
          f"({built['edges_complementary']:,} complementary, {built['edges_substitute']:,} substitute) from "
          f"{built['evidence_used']:,} labelled pairs; {built['skipped_without_entity']:,} pairs skipped without "
          f"an entity; complementary self-edges {sum(e['a'] == e['b'] for e in complementary)}")
    print("\nheaviest complementary edges between two entities:")
    for e in [e for e in complementary if e["a"] != e["b"]][:15]:
        print(f"- {e['a']} — {e['b']} (weight {e['weight']:g}, confidence {e['confidence']:.2f})")

    print(f"\n## graph recommend\n\nsnapshot {snap['version']}: answers over {len(graph.item_entities):,} items: "
          + ", ".join(f"{k} {v:,}" for k, v in answers.most_common()))
    for kind, text in cli.items():
        print(f"\n`pairloop graph recommend {shown[kind]} --k 5` ({kind}):\n```\n{text.rstrip()}\n```")
    print(f"\n`pairloop graph recommend askul:no-such-item` (exit 2):\n```\n{unknown.rstrip()}\n```")

    print(f"\n## sample (seed {args.seed})\n\n| # | title | entities |\n|---|---|---|")
    for n, key in enumerate(sample, 1):
        print(f"| {n} | {titles[key]} | {', '.join(graph.item_entities.get(key, ())) or '—'} |")


def _items(fbl: Path) -> list[CatalogueItem]:
    """Every item of the FBL files, as the importer reads them."""
    found = {}
    for name in FILES:
        path = fbl / name
        for row in read_fbl(path, guess_scheme(path)):
            for record in (row.item_a, row.item_b):
                key = f"{record.source}:{record.external_id}"
                found[key] = CatalogueItem(key, record.title, None)
    return list(found.values())


if __name__ == "__main__":
    main()

"""Do held-out partners share title words with their trigger? Why text finds BundleRec's bundles.

The recall evaluation's split and slices (``pairloop evaluate-recall``: 20 % of sessions held
out, the same seeded sample of triggers), and for every slice the share of (trigger, partner)
pairs whose titles share a word (three letters or more, not a number, not a stop word), and
whose titles start with the same word (on BundleRec most often the brand). The baseline is the
same trigger paired with a catalogue item drawn at random. No model is fitted: this reads the
data the evaluation reads, nothing else.

Sources absent from ``$PAIRLOOP_DATASETS`` (default ``../shared/datasets``) are skipped. Writes
``benchmarks/results/title_overlap.json``.

    .venv/bin/python -m benchmarks title_overlap [--seed 0 --seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
from pathlib import Path

from knowledge_graph.bundles import BundleDomain, load_domain
from knowledge_graph.entities import build_dictionary, extract
from knowledge_graph.evaluation import RecallConfig
from knowledge_graph.slices import SLICES, slice_queries

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("PAIRLOOP_DATASETS", REPO.parent / "shared" / "datasets"))
RESULTS = REPO / "benchmarks" / "results" / "title_overlap.json"
STOP = frozenset("and the for with from of in on to by pack set new inch black white".split())


def words(title: str) -> list[str]:
    return [w for w in re.findall(r"[a-z][a-z0-9'-]{2,}", title.lower()) if w not in STOP]


def _shares(pairs: list[tuple[list[str], list[str]]]) -> dict[str, float]:
    if not pairs:
        return {"pairs": 0, "shared_word": 0.0, "same_first_word": 0.0}
    shared = sum(bool(set(a) & set(b)) for a, b in pairs)
    first = sum(bool(a) and bool(b) and a[0] == b[0] for a, b in pairs)
    return {"pairs": len(pairs), "shared_word": round(shared / len(pairs), 4),
            "same_first_word": round(first / len(pairs), 4)}


def measure(domain: BundleDomain, by_entity: bool, seed: int) -> dict:
    """Per slice: the partners' word overlap with their trigger, and a random item's."""
    config = RecallConfig(seed=seed)
    split = domain.split(config.test_share, seed)
    queries = split.test_queries()
    if len(queries) > config.max_queries:
        chosen = sorted(random.Random(seed).sample(sorted(queries), config.max_queries))
        queries = {trigger: queries[trigger] for trigger in chosen}
    extraction = extract(domain.items, build_dictionary(domain.items, config.min_count))
    entities = {key: extraction.entities_of(key) for key in extraction.mentions}
    trained = {key for members in split.train_sessions.values() for key in members}
    slices = slice_queries(queries, domain.items, entities, trained, by_entity=by_entity)
    titles = {item.key: words(item.title) for item in domain.items}
    keys, rng = sorted(titles), random.Random(seed)
    result = {}
    for name in SLICES:
        partners = [(titles[t], titles[p]) for t, found in sorted(slices[name].items()) for p in sorted(found)]
        randoms = [(titles[t], titles[rng.choice(keys)]) for t, found in sorted(slices[name].items()) for _p in found]
        result[name] = {"partners": _shares(partners), "random_items": _shares(randoms)}
    return result


def _sources() -> dict[str, tuple[Path, bool]]:
    return {"electronic": (DATASETS / "bundlerec" / "electronic", True),
            "clothing": (DATASETS / "bundlerec" / "clothing", True),
            "instacart": (DATASETS / "instacart", False)}


def main(argv: list[str] | None = None) -> None:
    from knowledge_graph.baskets import load_baskets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, action="append", help="Seeds of the split (repeatable; default 0 and 1).")
    args = parser.parse_args(argv or [])
    results: dict[str, dict] = {}
    for name, (folder, by_entity) in _sources().items():
        if not folder.is_dir():
            print(f"{name}: skipped, {folder} is absent")
            continue
        domain = load_baskets(folder) if name == "instacart" else load_domain(folder)
        for seed in args.seed or [0, 1]:
            results[f"{name}/seed-{seed}"] = found = measure(domain, by_entity, seed)
            print(f"{name}, seed {seed}: share of partners sharing a title word (same first word) vs random items")
            for slice_name, figures in found.items():
                mine, other = figures["partners"], figures["random_items"]
                print(f"  {slice_name:<13} {mine['pairs']:>6} pairs  {mine['shared_word']:.3f} "
                      f"({mine['same_first_word']:.3f})  vs  {other['shared_word']:.3f} "
                      f"({other['same_first_word']:.3f})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")

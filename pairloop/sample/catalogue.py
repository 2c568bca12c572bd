"""A small sample catalogue the project writes itself, for ``make demo`` and for tests.

Twelve product types in six departments. Inside a department the two types complement
each other (tent + sleeping bag); items of one type substitute each other; items of different
departments are unrelated. Each relation also has its fine FBL code, so the files exercise the
whole taxonomy. As in many real catalogues, an item's category path names only its department:
the type shows in the title text, which the classifier has to learn to read. The truth table
is what simulated annotators answer from.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from store.taxonomy import Relation

BRANDS = ["Northpeak", "Aldera", "Vanta", "Kestrel", "Orbis", "Lumio", "Tamsin", "Brightway"]

# department: (category, nouns, qualities), (category, nouns, qualities), fine code (first → second)
DEPARTMENTS: dict[str, tuple[tuple[str, list[str], list[str]], tuple[str, list[str], list[str]], int]] = {
    "Outdoor": (
        ("Tents", ["dome tent", "tunnel tent", "backpacking tent", "family tent"],
         ["2-person", "4-person", "ultralight", "waterproof", "3-season"]),
        ("Sleeping Bags", ["mummy sleeping bag", "down sleeping bag", "synthetic sleeping bag"],
         ["-5°C", "summer", "compact", "800-fill", "double-size"]),
        7,
    ),
    "Coffee": (
        ("Coffee Makers", ["espresso machine", "drip coffee maker", "pour-over brewer", "french press"],
         ["stainless steel", "12-cup", "programmable", "15-bar", "glass"]),
        ("Coffee Beans", ["whole coffee beans", "ground coffee", "espresso roast beans"],
         ["1 kg", "500 g", "dark roast", "medium roast", "single-origin"]),
        2,
    ),
    "Office": (
        ("Printers", ["inkjet printer", "all-in-one printer", "photo printer"],
         ["wireless", "A4 colour", "duplex", "compact", "high-yield"]),
        ("Ink Cartridges", ["black ink cartridge", "colour ink cartridge", "ink cartridge multipack"],
         ["XL", "4-pack", "high-capacity", "standard", "tri-colour"]),
        4,
    ),
    "Phones": (
        ("Smartphones", ["smartphone", "5G smartphone", "rugged smartphone"],
         ["128 GB", "256 GB", "6.1-inch", "dual-SIM", "unlocked"]),
        ("Phone Cases", ["silicone phone case", "wallet phone case", "clear phone case"],
         ["shockproof", "slim", "leather", "MagSafe-compatible", "6.1-inch"]),
        5,
    ),
    "Kitchen": (
        ("Frying Pans", ["non-stick frying pan", "cast iron skillet", "stainless frying pan"],
         ["24 cm", "28 cm", "induction-ready", "oven-safe", "deep"]),
        ("Spatulas", ["silicone spatula", "wooden spatula", "fish slice spatula"],
         ["heat-resistant", "set of 3", "slotted", "non-scratch", "long-handled"]),
        7,
    ),
    "Bath": (
        ("Toothbrushes", ["electric toothbrush", "manual toothbrush", "sonic toothbrush"],
         ["soft bristles", "travel", "rechargeable", "medium", "2-pack"]),
        ("Toothpaste", ["fluoride toothpaste", "whitening toothpaste", "sensitive toothpaste"],
         ["75 ml", "mint", "3-pack", "herbal", "enamel care"]),
        4,
    ),
}


@dataclass(frozen=True)
class SampleItem:
    external_id: str
    title: str
    department: str
    category: str  # the product type: hidden from the catalogue, known to the truth table
    description: str

    @property
    def category_path(self) -> str:
        return self.department


def make_items(per_category: int = 25, seed: int = 7) -> list[SampleItem]:
    rng = random.Random(seed)
    items: list[SampleItem] = []
    for department, (first, second, _code) in DEPARTMENTS.items():
        for category, nouns, qualities in (first, second):
            seen: set[str] = set()
            for _ in range(per_category):
                title = f"{rng.choice(BRANDS)} {rng.choice(nouns)}, {rng.choice(qualities)}"
                if title in seen:
                    title = f"{title} ({len(seen) + 1})"
                seen.add(title)
                number = len(items) + 1
                items.append(SampleItem(
                    external_id=f"SKU-{number:04d}",
                    title=title,
                    department=department,
                    category=category,
                    description=f"{title}, from our {department.lower()} range.",
                ))
    return items


def truth(a: SampleItem, b: SampleItem) -> tuple[Relation, int]:
    """The true relation and fine code of (a, b), in that order."""
    if (a.department, a.category) == (b.department, b.category):
        return Relation.SUBSTITUTE, 1
    if a.department != b.department:
        return Relation.UNRELATED, 8
    first, _second, code = DEPARTMENTS[a.department]
    if code in (2, 5):  # directional: the code reads first category → second
        return Relation.COMPLEMENTARY, code if a.category == first[0] else code + 1
    return Relation.COMPLEMENTARY, code


@dataclass(frozen=True)
class SampleFiles:
    catalogue: Path
    seed_labels: Path
    pool: Path
    test: Path
    truth: Path


def _candidate_pairs(items: list[SampleItem], rng: random.Random) -> list[tuple[SampleItem, SampleItem]]:
    """Every within-department pair plus a sample of cross-department ones."""
    same = [(a, b) for a, b in combinations(items, 2) if a.department == b.department]
    cross = [(a, b) for a, b in combinations(items, 2) if a.department != b.department]
    pairs = rng.sample(same, k=min(len(same), 1500)) + rng.sample(cross, k=1500)
    rng.shuffle(pairs)  # the test set and the pool must both mix every relation
    return [(b, a) if rng.random() < 0.5 else (a, b) for a, b in pairs]


def _write_pairs(path: Path, pairs, with_labels: bool, actors: tuple[str, ...] = ("",)) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        header = ["item_a", "item_b", "title_a", "title_b", "category_a", "category_b"]
        writer.writerow(header + (["relation", "fine_code", "actor", "source"] if with_labels else []))
        for a, b in pairs:
            row = [a.external_id, b.external_id, a.title, b.title, a.category_path, b.category_path]
            if not with_labels:
                writer.writerow(row)
                continue
            relation, code = truth(a, b)
            writer.writerows(row + [relation.value, code, actor, "human"] for actor in actors)


def write_sample(directory: Path, seed: int = 7, seed_per_class: int = 10) -> SampleFiles:
    """Write catalogue.csv, seed_labels.csv, pool.csv (unlabelled), test.csv and truth.csv."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    items = make_items(seed=seed)
    files = SampleFiles(*(directory / name for name in
                          ("catalogue.csv", "seed_labels.csv", "pool.csv", "test.csv", "truth.csv")))
    with files.catalogue.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "title", "category_path", "description"])
        writer.writerows((i.external_id, i.title, i.category_path, i.description) for i in items)

    pairs = _candidate_pairs(items, rng)
    by_relation: dict[Relation, list] = {r: [] for r in Relation}
    for pair in pairs:
        by_relation[truth(*pair)[0]].append(pair)
    seed_pairs = [p for r in Relation for p in by_relation[r][:seed_per_class]]
    rest = [p for p in pairs if p not in set(seed_pairs)]
    test_pairs, pool_pairs = rest[:600], rest[600:]
    # Seed labels were checked by three people, so they pass the "two agree" rule.
    _write_pairs(files.seed_labels, seed_pairs, with_labels=True,
                 actors=("seed-annotator-1", "seed-annotator-2", "seed-annotator-3"))
    _write_pairs(files.pool, pool_pairs, with_labels=False)
    _write_pairs(files.test, test_pairs, with_labels=True, actors=("test-annotator",))
    _write_pairs(files.truth, pairs, with_labels=True, actors=("truth",))
    return files

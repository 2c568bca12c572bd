"""Entity extraction: map every item to the concept terms ("entities") it is an instance of.

LLM-KERec's entity dictionary, built from the catalogue itself:

* **category entities** — the leaf of an item's category path, when the leaf is specific.
  A leaf that is an inner node elsewhere ("Women", "Men") says nothing about the item and
  gives no entity; a leaf found under several parents ("Cases", "Casual") is qualified by
  its parent ("case (cases & sleeves)").
* **title entities** — the head noun phrase of the title ("battery charger"), the longest
  candidate seen at least ``min_count`` times in the catalogue. A title in Japanese (any kana
  or kanji) takes :mod:`knowledge_graph.japanese` instead, with a dictionary of its own built
  from the Japanese titles (油性ボールペン → ボールペン); Latin titles never see it.

An entity that names a unit ("oz", "fl oz", "count") is an extraction error: a quantity read as
the product. :func:`unit_entities` lists any such, so a report can show there are none.

Items the dictionary cannot place can be tagged by :mod:`knowledge_graph.tagger`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from knowledge_graph.japanese import JapaneseTerms, build_terms, is_japanese
from knowledge_graph.records import CatalogueItem
from knowledge_graph.text import head_candidates, is_unit, normalise_term

CATEGORY = "category"
TITLE = "title"
TAGGER = "tagger"
MIN_DEPTH = 2  # a leaf with a parent: "snacks > cookies cakes"; a lone top level names nothing


@dataclass(frozen=True, slots=True)
class Mention:
    entity: str
    method: str  # category | title | tagger


def category_parts(path: str | None) -> list[str]:
    """The levels of a category path, with merchandising suffixes ("...: International Shipping") cut."""
    if not path:
        return []
    return [part.split(":", 1)[0].strip() for part in path.split(" > ") if part.strip()]


@dataclass
class EntityDictionary:
    """Which category paths and title head terms name an entity."""

    categories: dict[str, str] = field(default_factory=dict)  # category path -> entity
    terms: frozenset[str] = frozenset()
    min_count: int = 3
    japanese: JapaneseTerms | None = None  # None: the catalogue had no Japanese title

    def title_term(self, title: str) -> str | None:
        """The title's head term in the dictionary, by the path its script takes."""
        if is_japanese(title):
            return self.japanese.term(title) if self.japanese else None
        return next((t for t in reversed(head_candidates(title)) if t in self.terms), None)

    def mentions(self, item: CatalogueItem) -> tuple[Mention, ...]:
        """The item's entities: its title head term first (the more specific), then its category."""
        found: list[Mention] = []
        term = self.title_term(item.title)
        if term:
            found.append(Mention(term, TITLE))
        category = self.categories.get(item.category_path or "")
        if category and category != term:
            found.append(Mention(category, CATEGORY))
        return tuple(found)


def _category_entities(paths: Iterable[str]) -> dict[str, str]:
    paths = sorted(set(paths))
    parts_of = {path: category_parts(path) for path in paths}
    inner: set[str] = set()
    parents: dict[str, set[str]] = defaultdict(set)
    for parts in parts_of.values():
        inner.update(normalise_term(part) for part in parts[:-1])
        if len(parts) >= 2:
            parents[normalise_term(parts[-1])].add(parts[-2].lower())
    entities: dict[str, str] = {}
    for path, parts in parts_of.items():
        if len(parts) < MIN_DEPTH:
            continue
        leaf = normalise_term(parts[-1])
        if not leaf or leaf in inner:
            continue
        entities[path] = f"{leaf} ({parts[-2].lower()})" if len(parents[leaf]) > 1 else leaf
    return entities


def build_dictionary(items: Sequence[CatalogueItem], min_count: int = 3) -> EntityDictionary:
    """The entity dictionary of a catalogue: specific category leaves and frequent title heads,
    English and Japanese titles each counted on their own."""
    counts: Counter[str] = Counter()
    japanese: list[str] = []
    for item in items:
        if is_japanese(item.title):
            japanese.append(item.title)
        else:
            counts.update(head_candidates(item.title))
    terms = frozenset(term for term, n in counts.items() if n >= min_count)
    categories = _category_entities(item.category_path for item in items if item.category_path)
    return EntityDictionary(categories, terms, min_count, build_terms(japanese, min_count) if japanese else None)


@dataclass
class Extraction:
    """The entities of every item, and what the dictionary could not place."""

    mentions: dict[str, tuple[Mention, ...]]

    def entities_of(self, key: str) -> tuple[str, ...]:
        return tuple(m.entity for m in self.mentions.get(key, ()))

    @property
    def unmatched(self) -> list[str]:
        return sorted(key for key, found in self.mentions.items() if not found)

    def members(self) -> dict[str, list[str]]:
        """Items of each entity, sorted."""
        members: dict[str, list[str]] = defaultdict(list)
        for key in sorted(self.mentions):
            for mention in self.mentions[key]:
                members[mention.entity].append(key)
        return dict(members)

    def report(self) -> dict:
        total = len(self.mentions)
        matched = total - len(self.unmatched)
        by_method = Counter(m.method for found in self.mentions.values() for m in found)
        members = self.members()
        return {
            "items": total,
            "matched": matched,
            "coverage": round(matched / total, 4) if total else 0.0,
            "entities": len(members),
            "mentions_by_method": dict(sorted(by_method.items())),
            "largest_entities": [
                {"entity": e, "items": len(m)}
                for e, m in sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:10]
            ],
        }


def unit_entities(extraction: Extraction) -> dict[str, int]:
    """Entities that name a unit or an amount, not a kind of product, with their numbers of items."""
    return {entity: len(keys) for entity, keys in sorted(extraction.members().items())
            if is_unit(entity.split(" (", 1)[0])}


def coverage_by_script(items: Iterable[CatalogueItem], extraction: Extraction) -> dict[str, dict[str, float]]:
    """Items and placed items by the path their titles take: ``japanese`` or ``latin``."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        tally = counts["japanese" if is_japanese(item.title) else "latin"]
        tally["items"] += 1
        tally["matched"] += bool(extraction.mentions.get(item.key))
    return {script: {"items": c["items"], "matched": c["matched"], "coverage": round(c["matched"] / c["items"], 4)}
            for script, c in sorted(counts.items())}


def extract(items: Iterable[CatalogueItem], dictionary: EntityDictionary) -> Extraction:
    return Extraction({item.key: dictionary.mentions(item) for item in items})

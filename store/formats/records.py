"""Plain records, independent of the database: what the file readers yield, and the one
read-model of a catalogue item that the classifier and the knowledge graph share."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from store.taxonomy import LabelSource, Relation


@dataclass(slots=True)
class ItemRecord:
    source: str
    external_id: str
    title: str
    category_path: str | None = None
    description: str | None = None
    image_url: str | None = None
    attributes: dict[str, Any] | None = None
    line: int | None = None
    # True when neither the file nor the command named the source (a csv/jsonl file's fallback
    # source): such an item must not silently become a copy of one another source holds.
    source_defaulted: bool = False

    def row(self) -> dict[str, Any]:
        """The ``items`` table row for this record."""
        return {
            "source": self.source,
            "external_id": self.external_id,
            "title": self.title,
            "category_path": self.category_path,
            "description": self.description,
            "image_url": self.image_url,
            "attributes": self.attributes,
        }


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    """An item as the algorithms see it: its title and, when known, its category path.

    ``key`` identifies the item for whoever built the list: a store item id (classifier pools),
    a file's ``(source, external_id)`` (classifier pair files) or ``"source:external_id"``
    (the knowledge graph, stable across databases).
    """

    key: Hashable
    title: str
    category_path: str | None = None

    @property
    def text(self) -> str:
        """The title with the category path, as the featurisers read it."""
        if not self.category_path:
            return self.title
        return f"{self.title} ({self.category_path.replace(' > ', ', ')})"

    @property
    def major_category(self) -> str | None:
        """The first level of the category path."""
        return self.category_path.split(" > ")[0].strip() if self.category_path else None


@dataclass(slots=True)
class Answer:
    """One labeller's answer on a pair, in the file's item order (item a → item b)."""

    actor: str
    relation: Relation
    fine_code: int | None = None
    source: LabelSource = LabelSource.HUMAN
    confidence: float | None = None
    rationale: str | None = None

    def key(self) -> tuple[str, str, int | None]:
        """What makes this answer distinct: a changed answer is a new label, the same one is not."""
        return self.actor, self.relation.value, self.fine_code


@dataclass(slots=True)
class PairRow:
    """A line of a pair file: two items and zero or more answers (zero: an unlabelled pool row)."""

    line: int
    item_a: ItemRecord
    item_b: ItemRecord
    answers: list[Answer] = field(default_factory=list)
    # Stable identity of the row's answers, for idempotent re-import: the format, the items'
    # source and the two external ids in the file's order (a tuple, so no id can run into another).
    key: tuple[str, ...] = ()


@dataclass(slots=True)
class BehaviourRow:
    """Behaviour evidence: two items of one source seen together ``count`` times."""

    source: str
    external_a: str
    external_b: str
    kind: str
    dataset: str
    count: int

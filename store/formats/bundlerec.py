"""BundleRec domain folders (item_titles.csv, item_categories.csv, bundle_item.csv, ...).

Items come from the titled items; pairs within one human-made bundle are complementary
evidence from a crowd worker (the bundle's intent kept as the rationale); pairs that only
shared a purchase session are behaviour evidence, kept apart from labels.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path

from store.errors import BadInput
from store.formats.lines import table_rows
from store.formats.records import Answer, BehaviourRow, ItemRecord, PairRow
from store.models import Item
from store.taxonomy import LabelSource, Relation
from store.validation import fit_actor, fit_column, fit_item

REQUIRED_FILES = ("item_titles.csv", "item_categories.csv", "bundle_item.csv", "session_item.csv")


def is_bundlerec_dir(path: Path) -> bool:
    return path.is_dir() and all((path / name).exists() for name in REQUIRED_FILES)


def source_of(path: Path) -> str:
    """The items' source: the folder's name, which must fit the store's source column."""
    return fit_column(f"bundlerec-{path.resolve().name}", Item.source, "item source (from the folder name)", path, None)


def _category_path(text: str, path: Path, line: int) -> str | None:
    text = text.strip()
    if not text:
        return None
    if not (text.startswith("[[") and text.endswith("]]")):
        raise BadInput(f"categories {text[:40]!r} are not of the form [[a,b,...]]", path, line)
    first = text[2:-2].split("],[", 1)[0]
    parts = [part.strip() for part in first.split(",") if part.strip()]
    return " > ".join(parts) or None


def read_items(directory: Path) -> Iterator[ItemRecord]:
    source = source_of(directory)
    categories: dict[str, str | None] = {}
    cat_file = directory / "item_categories.csv"
    for line, row in table_rows(cat_file, ","):
        categories[row["item ID"].strip()] = _category_path(row["categories"], cat_file, line)
    title_file = directory / "item_titles.csv"
    for line, row in table_rows(title_file, ","):
        # The titles were scraped with HTML entities left in ("Barnes &amp; Noble").
        item_id, title = row["item ID"].strip(), html.unescape(row["titles"]).strip()
        if not item_id:
            raise BadInput("missing item ID", title_file, line)
        fit_item(source, item_id, title_file, line)
        if title:
            yield ItemRecord(source, item_id, title, categories.get(item_id), line=line)


def _groups(path: Path, group_col: str, item_col: str) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Each group's members in file order, and the line each group first appears on."""
    groups: dict[str, list[str]] = defaultdict(list)
    first_lines: dict[str, int] = {}
    for line, row in table_rows(path, ","):
        group, item = row.get(group_col, "").strip(), row.get(item_col, "").strip()
        if not group or not item:
            raise BadInput(f"missing {group_col if not group else item_col}", path, line)
        first_lines.setdefault(group, line)
        if item not in groups[group]:
            groups[group].append(item)
    return groups, first_lines


def _intents(directory: Path) -> dict[str, str]:
    path = directory / "bundle_intent.csv"
    if not path.exists():
        return {}
    return {row["bundle ID"].strip(): row["intent"].strip() for _line, row in table_rows(path, ",")}


def read_pairs(directory: Path) -> Iterator[PairRow]:
    """Within-bundle pairs between titled items, one answer per bundle that holds the pair."""
    items = {record.external_id: record for record in read_items(directory)}
    intents = _intents(directory)
    bundle_file = directory / "bundle_item.csv"
    groups, first_lines = _groups(bundle_file, "bundle ID", "item ID")
    for bundle, members in groups.items():
        line = first_lines[bundle]
        actor = fit_actor(f"bundlerec:bundle:{bundle}", bundle_file, line)
        titled = sorted((m for m in members if m in items), key=str)
        for a, b in combinations(titled, 2):
            answer = Answer(actor, Relation.COMPLEMENTARY, source=LabelSource.HUMAN, rationale=intents.get(bundle))
            yield PairRow(line, items[a], items[b], [answer], ("bundlerec", items[a].source, a, b))


def read_behaviour(directory: Path) -> Iterator[BehaviourRow]:
    """Pairs of titled items bought in one session, counted over sessions."""
    source = source_of(directory)
    titled = {record.external_id for record in read_items(directory)}
    counts: Counter[tuple[str, str]] = Counter()
    for members in _groups(directory / "session_item.csv", "session ID", "item ID")[0].values():
        kept = sorted(m for m in members if m in titled)
        counts.update(combinations(kept, 2))
    for (a, b), count in counts.items():
        yield BehaviourRow(source, a, b, "co_session", source, count)

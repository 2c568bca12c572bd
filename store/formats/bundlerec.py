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
from store.taxonomy import LabelSource, Relation

REQUIRED_FILES = ("item_titles.csv", "item_categories.csv", "bundle_item.csv", "session_item.csv")


def is_bundlerec_dir(path: Path) -> bool:
    return path.is_dir() and all((path / name).exists() for name in REQUIRED_FILES)


def source_of(path: Path) -> str:
    return f"bundlerec-{path.resolve().name}"


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
        if title:
            yield ItemRecord(source, item_id, title, categories.get(item_id), line=line)


def _groups(path: Path, group_col: str, item_col: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for line, row in table_rows(path, ","):
        group, item = row.get(group_col, "").strip(), row.get(item_col, "").strip()
        if not group or not item:
            raise BadInput(f"missing {group_col if not group else item_col}", path, line)
        if item not in groups[group]:
            groups[group].append(item)
    return groups


def _intents(directory: Path) -> dict[str, str]:
    path = directory / "bundle_intent.csv"
    if not path.exists():
        return {}
    return {row["bundle ID"].strip(): row["intent"].strip() for _line, row in table_rows(path, ",")}


def read_pairs(directory: Path) -> Iterator[PairRow]:
    """Within-bundle pairs between titled items, one answer per bundle that holds the pair."""
    items = {record.external_id: record for record in read_items(directory)}
    intents = _intents(directory)
    for bundle, members in _groups(directory / "bundle_item.csv", "bundle ID", "item ID").items():
        titled = sorted((m for m in members if m in items), key=str)
        for a, b in combinations(titled, 2):
            answer = Answer(
                f"bundlerec:bundle:{bundle}",
                Relation.COMPLEMENTARY,
                source=LabelSource.HUMAN,
                rationale=intents.get(bundle),
            )
            yield PairRow(0, items[a], items[b], [answer], f"{items[a].source}:{a}|{b}")


def read_behaviour(directory: Path) -> Iterator[BehaviourRow]:
    """Pairs of titled items bought in one session, counted over sessions."""
    source = source_of(directory)
    titled = {record.external_id for record in read_items(directory)}
    counts: Counter[tuple[str, str]] = Counter()
    for members in _groups(directory / "session_item.csv", "session ID", "item ID").values():
        kept = sorted(m for m in members if m in titled)
        counts.update(combinations(kept, 2))
    for (a, b), count in counts.items():
        yield BehaviourRow(source, a, b, "co_session", source, count)

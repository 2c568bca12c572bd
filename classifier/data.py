"""Sets of item pairs, with or without labels, read from pair files or from the store.

A :class:`PairSet` keeps each item once (``items``) and the pairs as two index arrays into
it, so item vectors are computed once and pair features are built with numpy per chunk.
Pairs are unordered: a pair and its mirror are the same pair (``keys`` are canonical).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, select

from store.errors import BadInput
from store.formats import read_pairs, resolve_format
from store.formats.records import CatalogueItem, ItemRecord, PairRow
from store.formats.truth import ANSWERS_PER_ROW
from store.models import Item, Pair
from store.taxonomy import mirror_fine
from store.verified import DEFAULT_MIN_AGREEING, MajorityRule, Vote, decide, verified_labels

CHUNK = 5000




@dataclass
class PairSet:
    """Unordered item pairs as index arrays into ``items``; ``labels[i]`` is a relation or None."""

    items: list[CatalogueItem]
    ia: np.ndarray
    ib: np.ndarray
    keys: list[Hashable]
    labels: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    lines: np.ndarray | None = None
    source: str | None = None  # the file (for messages)

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.keys):
            self.labels = np.full(len(self.keys), None, dtype=object)

    def __len__(self) -> int:
        return len(self.keys)

    def subset(self, index: Sequence[int] | np.ndarray) -> PairSet:
        """The chosen pairs (same ``items`` list, so item vectors stay valid)."""
        index = np.asarray(index, dtype=np.int64)
        lines = self.lines[index] if self.lines is not None else None
        return PairSet(self.items, self.ia[index], self.ib[index], [self.keys[i] for i in index],
                       self.labels[index], lines, self.source)

    def known(self) -> np.ndarray:
        """Which pairs carry a label."""
        return np.array([label is not None for label in self.labels], dtype=bool)

    def labelled(self) -> PairSet:
        return self.subset(np.flatnonzero(self.known()))

    def classes(self) -> dict[str, int]:
        values, counts = np.unique(self.labels[self.known()].astype(str), return_counts=True)
        return dict(zip(values.tolist(), counts.tolist(), strict=True))


def labels_hash(pairs: PairSet) -> str:
    """A stable fingerprint of a labelled set: which pairs carry which relation."""
    lines = sorted(f"{key!r}\t{label}" for key, label in zip(pairs.keys, pairs.labels, strict=True)
                   if label is not None)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


class _Builder:
    """Collects items once by key and pairs once by their unordered key."""

    def __init__(self) -> None:
        self.items: list[CatalogueItem] = []
        self.index: dict[Hashable, int] = {}
        self.ia: list[int] = []
        self.ib: list[int] = []
        self.keys: list[Hashable] = []
        self.labels: list[str | None] = []
        self.lines: list[int] = []
        self.seen: set[Hashable] = set()
        self.duplicates = 0

    def item(self, item: CatalogueItem) -> int:
        position = self.index.get(item.key)
        if position is None:
            position = self.index[item.key] = len(self.items)
            self.items.append(item)
        return position

    def add(self, a: CatalogueItem, b: CatalogueItem, key: Hashable, label: str | None, line: int) -> None:
        if key in self.seen:
            self.duplicates += 1
            return
        self.seen.add(key)
        self.ia.append(self.item(a))
        self.ib.append(self.item(b))
        self.keys.append(key)
        self.labels.append(label)
        self.lines.append(line)

    def build(self, source: str | None) -> PairSet:
        lines = np.asarray(self.lines) if source else None
        return PairSet(self.items, np.asarray(self.ia, dtype=np.int64), np.asarray(self.ib, dtype=np.int64),
                       self.keys, np.asarray(self.labels, dtype=object), lines, source)


def _file_item(record: ItemRecord) -> CatalogueItem:
    return CatalogueItem((record.source, record.external_id), record.title, record.category_path)


def file_pair_key(a: tuple[str, str], b: tuple[str, str]) -> tuple:
    """A pair's identity in a file, the same for the pair and its mirror."""
    return (a, b) if a <= b else (b, a)


def row_pair_key(row: PairRow) -> tuple:
    """The identity of the pair on one line of a pair file."""
    return file_pair_key(_file_item(row.item_a).key, _file_item(row.item_b).key)


def read_pair_file(
    path: Path,
    fmt: str | None = None,
    rule: MajorityRule = MajorityRule.COARSE,
    min_agreeing: int = DEFAULT_MIN_AGREEING,
) -> PairSet:
    """Every distinct pair of a pair file with its majority label (None: unlabelled or no majority).

    A pair may appear on several lines (FBL2023 repeats 79, mostly with the items swapped): it
    is kept once, at its first line, and its answers vote together as in the store, each
    annotator's last answer once. ``min_agreeing`` is capped at the answers one line of the
    format carries (see :func:`store.formats.truth.labelled_rows`).
    """
    fmt = resolve_format(path, fmt)
    needed = min(min_agreeing, ANSWERS_PER_ROW.get(fmt, 1))
    builder = _Builder()
    votes: dict[Hashable, dict[str, Vote]] = {}
    first_item: dict[Hashable, Hashable] = {}
    for row in read_pairs(path, fmt):
        a, b = _file_item(row.item_a), _file_item(row.item_b)
        key = file_pair_key(a.key, b.key)
        if key not in votes:
            builder.add(a, b, key, None, row.line)
            votes[key], first_item[key] = {}, a.key
        swapped = first_item[key] != a.key
        for answer in row.answers:
            fine = mirror_fine(answer.fine_code) if swapped and answer.fine_code else answer.fine_code
            votes[key][answer.actor] = Vote(answer.relation, fine, answer.source.value, False)
    for position, key in enumerate(builder.keys):
        ballot = list(votes[key].values())
        verified = decide(position, ballot, rule, needed) if ballot else None
        builder.labels[position] = verified.relation.value if verified else None
    return builder.build(str(path))


def require_labelled(pairs: PairSet, what: str, min_classes: int = 2) -> PairSet:
    """The labelled pairs of a file, or a clear error when it has too few or one class only."""
    labelled = pairs.labelled()
    where = pairs.source
    if len(labelled) == 0:
        raise BadInput(f"{what} has no labelled pairs (no row reaches a majority label)", where)
    classes = labelled.classes()
    if len(classes) < min_classes:
        only = ", ".join(f"{name} ({count})" for name, count in classes.items())
        raise BadInput(f"{what} has a single class, {only}: it needs at least {min_classes} "
                       "relations to train or to compute a macro-F1", where)
    return labelled


def store_items(conn: Connection, item_ids: Iterable[int]) -> dict[int, CatalogueItem]:
    """Item texts by item id (the key of a store item is its id)."""
    wanted = sorted(set(item_ids))
    found: dict[int, CatalogueItem] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        stmt = select(Item.id, Item.title, Item.category_path).where(Item.id.in_(chunk))
        found.update({i: CatalogueItem(i, title, path) for i, title, path in conn.execute(stmt)})
    return found


def store_pairs(conn: Connection, pair_ids: Sequence[int], labels: Sequence[str | None] | None = None) -> PairSet:
    """The given store pairs (keys are pair ids), in the order given."""
    ends: dict[int, tuple[int, int]] = {}
    for start in range(0, len(pair_ids), CHUNK):
        chunk = list(pair_ids[start : start + CHUNK])
        stmt = select(Pair.id, Pair.item_a_id, Pair.item_b_id).where(Pair.id.in_(chunk))
        ends.update({pid: (a, b) for pid, a, b in conn.execute(stmt)})
    texts = store_items(conn, (i for pair in ends.values() for i in pair))
    builder = _Builder()
    for n, pid in enumerate(pair_ids):
        a, b = ends[pid]
        builder.add(texts[a], texts[b], pid, labels[n] if labels is not None else None, 0)
    return builder.build(None)


def store_labelled_pairs(
    conn: Connection, rule: MajorityRule, min_agreeing: int = DEFAULT_MIN_AGREEING
) -> PairSet:
    """The store's verified labels as a labelled pair set (keys: pair ids)."""
    verified, _undecided = verified_labels(conn, rule, min_agreeing=min_agreeing)
    pair_ids = sorted(verified)
    return store_pairs(conn, pair_ids, [verified[p].relation.value for p in pair_ids])

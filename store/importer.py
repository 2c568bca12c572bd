"""Write parsed records into the store in bulk, chunk by chunk, inside the caller's transaction.

The caller owns the transaction (``engine.begin()``): a bad row anywhere in a file raises
before commit, so nothing from that file is stored; so does :meth:`Importer.finish` when the
file would have copied items another source holds (see :class:`Forks`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection

from store import repository
from store.errors import Conflict
from store.formats.records import Answer, BehaviourRow, ItemRecord, PairRow
from store.models import ENTITY_SOURCE
from store.taxonomy import Verdict, mirror_fine

T = TypeVar("T")
Progress = Callable[[int], None]
CHUNK = 5000


def chunked(rows: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def import_key(row: PairRow, answer: Answer) -> str:
    """The idempotency key of one answer of a file's row: the row's identity (format, items'
    source, the two ids in the file's order) and the answer's (actor, relation, fine code in the
    file's order). Migration 0005 recomputes it from the stored columns for labels imported
    under the earlier, separator-joined keys."""
    return repository.label_key("import", *row.key, *answer.key())


@dataclass
class ImportReport:
    rows: int = 0
    items_added: int = 0
    pairs_added: int = 0
    labels_added: int = 0
    labels_ignored: int = 0
    behaviour_added: int = 0
    skipped: int = 0


@dataclass
class Forks:
    """Items an import would add under its defaulted source (see ``ItemRecord.source_defaulted``)
    whose external ids another source already holds: copies of known items, which the import
    refuses instead of storing silently."""

    source: str = ""  # the defaulted source
    counts: Counter[str] = field(default_factory=Counter)  # other source → items
    examples: list[str] = field(default_factory=list)

    def note(self, source: str, other: str, external_id: str) -> None:
        self.source = source
        self.counts[other] += 1
        if len(self.examples) < 3:
            self.examples.append(external_id if len(external_id) <= 60 else f"{external_id[:57]}...")

    def error(self, origin: Path | str | None) -> Conflict:
        ranked, total = self.counts.most_common(), self.counts.total()
        where = ", ".join(f"{other!r} ({n:,})" if len(ranked) > 1 else repr(other) for other, n in ranked)
        what = f"{total:,} item{'s' if total > 1 else ''}"
        return Conflict(
            f"{f'{origin}: ' if origin else ''}{what} would be added under the default source {self.source!r} "
            f"(neither the file nor --source names a source), but items with these ids already exist under "
            f"source {where} (e.g. {', '.join(map(repr, self.examples))}). Items are keyed by (source, external id): "
            "these would be copies. Nothing was imported."
        ).with_hint(f"Pass --source {ranked[0][0]} to use the existing items, or --source {self.source} "
                    "to add them as new items.")


class Importer:
    """Imports records on one connection and reports what this import added: the rows its own
    inserts created, so an import running at the same time never inflates the report.

    ``origin`` names the file in the error :meth:`finish` raises."""

    def __init__(self, conn: Connection, progress: Progress | None = None, origin: Path | str | None = None):
        self.conn = conn
        self.progress = progress or (lambda _n: None)
        self.origin = origin
        self.report = ImportReport()
        self.forks = Forks()
        self._sources: set[str] | None = None  # the store's item sources, read when first needed
        repository.serialise_imports(conn)

    def finish(self) -> ImportReport:
        """The report; :class:`Conflict` (to be raised before the caller commits) when the import
        would have copied items of another source."""
        if self.forks.counts:
            raise self.forks.error(self.origin)
        return self.report

    def items(self, records: Iterable[ItemRecord]) -> None:
        """Insert new items and update the text of known ones."""
        for chunk in chunked(records):
            self._write_items(chunk, update=True)
            self._advance(len(chunk))

    def _write_items(self, records: list[ItemRecord], update: bool) -> None:
        latest = {(r.source, r.external_id): r for r in records}
        self._note_forks(list(latest.values()))
        self.report.items_added += repository.upsert_items(self.conn, [r.row() for r in latest.values()],
                                                           update=update)
        if self._sources is not None:
            self._sources.update(source for source, _external_id in latest)

    def _note_forks(self, records: list[ItemRecord]) -> None:
        """Note the chunk's items of a defaulted source that would be new while another source
        holds their ids, in the store or in this chunk. Costs one indexed lookup per other source
        and chunk (never one list of the whole file), one more only when some id is held; a store
        of one source, or a file that names its sources, pays nothing."""
        defaulted: dict[str, list[str]] = {}
        for record in records:
            if record.source_defaulted:
                defaulted.setdefault(record.source, []).append(record.external_id)
        if not defaulted:
            return
        if self._sources is None:
            # Graph entities are items too, but no catalogue's: an id equal to an entity's name is no copy.
            self._sources = repository.item_sources(self.conn) - {ENTITY_SOURCE}
        named = {r.external_id: r.source for r in records if not r.source_defaulted}
        for source, externals in defaulted.items():
            claimed = {e: named[e] for e in externals if named.get(e, source) != source}
            for other in sorted(self._sources - {source}):
                for external_id in repository.item_ids(self.conn, other, externals):
                    claimed.setdefault(external_id, other)
            if not claimed:
                continue
            known = repository.item_ids(self.conn, source, claimed)
            for external_id in externals:  # in the file's order, for the examples
                if external_id in claimed and external_id not in known:
                    self.forks.note(source, claimed[external_id], external_id)

    def pairs(self, rows: Iterable[PairRow], round_id: int | None = None, labels: bool = True) -> None:
        """Store the rows' items and pairs and, with ``labels``, their answers as labels; without,
        the answers are left out and counted in ``labels_ignored`` (unlabelled candidates)."""
        for chunk in chunked(rows):
            # Items named only in a pair file never overwrite a catalogue's text.
            items = [item for row in chunk for item in (row.item_a, row.item_b)]
            self._write_items(items, update=False)
            ids = self._item_ids((item.source, item.external_id) for item in items)
            ordered = [
                repository.canonical(ids[r.item_a.source, r.item_a.external_id],
                                     ids[r.item_b.source, r.item_b.external_id])
                for r in chunk
            ]
            pair_ids = self._pairs([(a, b) for a, b, _rev in ordered])
            if labels:
                self.report.labels_added += repository.insert_labels(
                    self.conn, self._label_rows(chunk, ordered, pair_ids, round_id))
            else:
                self.report.labels_ignored += sum(len(row.answers) for row in chunk)
            self._advance(len(chunk))

    @staticmethod
    def _label_rows(chunk: list[PairRow], ordered: list[tuple[int, int, bool]],
                    pair_ids: dict[tuple[int, int], int], round_id: int | None) -> list[dict]:
        """The ``labels`` rows of a chunk's answers, fine codes read in the stored pair order."""
        rows = []
        for row, (a, b, reversed_) in zip(chunk, ordered, strict=True):
            for answer in row.answers:
                fine = answer.fine_code
                rows.append({
                    "pair_id": pair_ids[a, b],
                    "verdict": Verdict.LABEL.value,
                    "relation": answer.relation.value,
                    "fine_code": mirror_fine(fine) if (fine and reversed_) else fine,
                    "source": answer.source.value,
                    "actor": answer.actor,
                    "confidence": answer.confidence,
                    "rationale": answer.rationale,
                    "presented_reversed": reversed_,
                    "round_id": round_id,
                    "external_key": import_key(row, answer),
                })
        return rows

    def behaviour(self, rows: Iterable[BehaviourRow]) -> None:
        for chunk in chunked(rows):
            ids = self._item_ids(key for r in chunk for key in ((r.source, r.external_a), (r.source, r.external_b)))
            known = [r for r in chunk if (r.source, r.external_a) in ids and (r.source, r.external_b) in ids]
            self.report.skipped += len(chunk) - len(known)
            ordered = [repository.canonical(ids[r.source, r.external_a], ids[r.source, r.external_b])
                       for r in known]
            pair_ids = self._pairs([(a, b) for a, b, _rev in ordered])
            self.report.behaviour_added += repository.insert_behaviour(self.conn, [
                {"pair_id": pair_ids[a, b], "kind": r.kind, "dataset": r.dataset, "count": r.count}
                for r, (a, b, _rev) in zip(known, ordered, strict=True)
            ])
            self._advance(len(chunk))

    def _pairs(self, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
        self.report.pairs_added += repository.add_pairs(self.conn, pairs)
        return repository.pair_ids(self.conn, pairs)

    def _item_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Item ids for (source, external id) keys that exist."""
        wanted: dict[str, set[str]] = {}
        for source, external_id in keys:
            wanted.setdefault(source, set()).add(external_id)
        return {
            (source, ext): item_id
            for source, externals in wanted.items()
            for ext, item_id in repository.item_ids(self.conn, source, externals).items()
        }

    def _advance(self, n: int) -> None:
        self.report.rows += n
        self.progress(n)

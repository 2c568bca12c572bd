"""Write parsed records into the store in bulk, chunk by chunk, inside the caller's transaction.

The caller owns the transaction (``engine.begin()``): a bad row anywhere in a file raises
before commit, so nothing from that file is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

from sqlalchemy import Connection

from store import repository
from store.formats.records import Answer, BehaviourRow, ItemRecord, PairRow
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
    behaviour_added: int = 0
    skipped: int = 0


class Importer:
    """Imports records on one connection and reports what this import added: the rows its own
    inserts created, so an import running at the same time never inflates the report."""

    def __init__(self, conn: Connection, progress: Progress | None = None):
        self.conn = conn
        self.progress = progress or (lambda _n: None)
        self.report = ImportReport()
        repository.serialise_imports(conn)

    def finish(self) -> ImportReport:
        return self.report

    def items(self, records: Iterable[ItemRecord]) -> None:
        """Insert new items and update the text of known ones."""
        for chunk in chunked(records):
            self._write_items(chunk, update=True)
            self._advance(len(chunk))

    def _write_items(self, records: list[ItemRecord], update: bool) -> None:
        latest = {(r.source, r.external_id): r.row() for r in records}
        self.report.items_added += repository.upsert_items(self.conn, list(latest.values()), update=update)

    def pairs(self, rows: Iterable[PairRow], round_id: int | None = None) -> None:
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
            labels = []
            for row, (a, b, reversed_) in zip(chunk, ordered, strict=True):
                for answer in row.answers:
                    fine = answer.fine_code
                    labels.append({
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
            self.report.labels_added += repository.insert_labels(self.conn, labels)
            self._advance(len(chunk))

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

"""Import items, labelled pairs, unlabelled candidate pairs or behaviour evidence: bulk,
idempotent, all-or-nothing per file."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from pathlib import Path

from pydantic import BaseModel, Field

from pairloop.usecases.context import Context
from store import formats
from store.errors import BadInput
from store.formats.records import PairRow
from store.importer import Importer


class ImportResult(BaseModel):
    """What one file added (a second import of the same file adds nothing)."""

    path: str
    rows: int = Field(0, description="Rows read.")
    items_added: int = 0
    pairs_added: int = 0
    labels_added: int = 0
    labels_ignored: int = Field(0, description="Labels in the file left out (import pairs --ignore-labels).")
    behaviour_added: int = 0
    skipped: int = Field(0, description="Rows skipped (unknown items).")


def _run(ctx: Context, path: Path, description: str, work: Callable[[Importer], None]) -> ImportResult:
    """One transaction: the whole file or nothing."""
    with ctx.progress.task(f"{description} {path.name}") as advance, ctx.engine.begin() as conn:
        importer = Importer(conn, advance, origin=path)
        work(importer)
        report = importer.finish()
    return ImportResult(path=str(path), **asdict(report))


def import_items(ctx: Context, path: Path, fmt: str | None = None, source: str | None = None) -> ImportResult:
    """A catalogue: items only (new items are added, known items' text is refreshed).
    ``fmt``: one of :data:`store.formats.FORMATS` (default: recognised from the header);
    ``source``: the item namespace of csv/jsonl files without a source column."""
    fmt = formats.resolve_format(path, fmt)
    return _run(ctx, path, "items", lambda imp: imp.items(formats.read_items(path, fmt, source)))


def import_labels(ctx: Context, path: Path, fmt: str | None = None, source: str | None = None) -> ImportResult:
    """Labelled pairs (and their items); for BundleRec also its session behaviour."""
    fmt = formats.resolve_format(path, fmt)

    def work(importer: Importer) -> None:
        if fmt == "bundlerec":
            importer.items(formats.read_items(path, fmt))
            importer.behaviour(formats.read_behaviour(path, fmt))
        importer.pairs(formats.read_pairs(path, fmt, source))

    return _run(ctx, path, "labels", work)


def import_pairs(ctx: Context, path: Path, fmt: str | None = None, source: str | None = None,
                 ignore_labels: bool = False) -> ImportResult:
    """Candidate pairs without labels (and their items): the store's unlabelled pool, which rounds
    select from. A file that holds labels (a relation or fine code, FBL answers, BundleRec
    bundles) is refused unless ``ignore_labels``; then its labels are left out and counted."""
    fmt = formats.resolve_format(path, fmt)
    rows = formats.read_pairs(path, fmt, source)
    return _run(ctx, path, "pairs", lambda imp: imp.pairs(rows if ignore_labels else _unlabelled(rows, path),
                                                          labels=False))


def _unlabelled(rows: Iterable[PairRow], path: Path) -> Iterator[PairRow]:
    """The rows, refused at the first one that carries a label."""
    for row in rows:
        if row.answers:
            raise BadInput(
                f"this row has {len(row.answers)} label(s), and `import pairs` stores pairs without labels: "
                "pass --ignore-labels to import the file's pairs as unlabelled candidates (its labels left out), "
                "or use `pairloop import labels` to store the labels",
                path, row.line)
        yield row


def import_behaviour(ctx: Context, path: Path, fmt: str | None = None, min_count: int = 1) -> ImportResult:
    """Behaviour evidence (Instacart baskets, BundleRec sessions), never labels: pairs seen
    together at least ``min_count`` times."""
    fmt = formats.resolve_format(path, fmt)

    def work(importer: Importer) -> None:
        importer.items(formats.read_items(path, fmt))
        importer.behaviour(formats.read_behaviour(path, fmt, min_count))

    return _run(ctx, path, "behaviour", work)

"""``pairloop pool build|split``: candidate pairs for active learning."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy import func, select

from pairloop.console import console, emit_json, progress_bar
from pairloop.settings import get_settings
from pairloop.store_access import open_store
from store import repository
from store.errors import BadInput
from store.models import Item, Pair

app = typer.Typer(help="Build candidate pools in the store, or split labelled pair files.", no_args_is_help=True)
JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")


@app.command("build")
def build(
    per_category: int = typer.Option(20, "--per-category", min=1, help="Query items per fine category (KARL's Q)."),
    partners: int = typer.Option(10, min=1, help="Partners per query item, same major category (KARL's P)."),
    source: str | None = typer.Option(None, help="Only items of this source (default: all)."),
    seed: int = typer.Option(0, help="Random seed of the sampling."),
    as_json: bool = JsonOpt,
) -> None:
    """KARL's stratified candidate pairs from the catalogue, written into the store's pairs."""
    from active_learning.pools import stratified_pairs
    from classifier.data import ItemText

    engine = open_store(get_settings())
    stmt = select(Item.id, Item.title, Item.category_path).where(Item.category_path.is_not(None))
    if source:
        stmt = stmt.where(Item.source == source)
    with engine.connect() as conn:
        items = [ItemText(i, title, path) for i, title, path in conn.execute(stmt)]
    if not items:
        raise BadInput("no items with a category path" + (f" in source {source!r}" if source else "")
                       + ": the stratified pool needs categories (import a catalogue with category_path)")
    pairs = stratified_pairs(items, per_category, partners, seed)
    with progress_bar("writing pairs", len(pairs)) as advance, engine.begin() as conn:
        before = conn.execute(select(func.count()).select_from(Pair)).scalar_one()
        for start in range(0, len(pairs), repository.CHUNK):
            chunk = pairs[start : start + repository.CHUNK]
            repository.ensure_pairs(conn, chunk)
            advance(len(chunk))
        added = conn.execute(select(func.count()).select_from(Pair)).scalar_one() - before
    engine.dispose()
    categories = len({i.category_path for i in items})
    report = {"items": len(items), "categories": categories, "candidates": len(pairs), "pairs_added": added}
    if as_json:
        emit_json(report)
    else:
        console.print(f"{len(pairs):,} candidate pairs from {len(items):,} items in {categories:,} categories; "
                      f"{added:,} new pairs stored")


@app.command("split")
def split(
    path: Path = typer.Argument(..., help="Labelled pair file (FBL TSV, or the project's CSV/JSONL)."),
    shares: str = typer.Option("0.7,0.3", help="Comma-separated shares, adding up to 1."),
    names: str = typer.Option("pool,test", help="Comma-separated part names (file suffixes)."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same split."),
    out_dir: Path = typer.Option(..., "--out-dir", help="Folder for the parts."),
    as_json: bool = JsonOpt,
) -> None:
    """Split a pair file into fixed parts (stratified by majority label), each in the file's own format."""
    from active_learning.pools import split_pair_file

    try:
        fractions = [float(s) for s in shares.split(",")]
    except ValueError:
        raise BadInput(f"--shares must be numbers like 0.7,0.3, got {shares!r}") from None
    parts = split_pair_file(path, fractions, [n.strip() for n in names.split(",")], out_dir, seed)
    if as_json:
        emit_json([{"path": str(p), "pairs": n} for p, n in parts])
        return
    for part, count in parts:
        console.print(f"{part}: {count:,} pairs")

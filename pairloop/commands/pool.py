"""``pairloop pool build|split``: candidate pairs for active learning."""

from __future__ import annotations

from pathlib import Path

import typer

from pairloop.commands.options import JsonOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.pools import build_pool, split_pool
from store.errors import BadInput

app = typer.Typer(help="Build candidate pools in the store, or split labelled pair files.", no_args_is_help=True)


@app.command("build")
def build(
    per_category: int = typer.Option(20, "--per-category", min=1, help="Query items per fine category (KARL's Q)."),
    partners: int = typer.Option(10, min=1, help="Partners per query item, same major category (KARL's P)."),
    source: str | None = typer.Option(None, help="Only items of this source (default: all)."),
    seed: int = typer.Option(0, help="Random seed of the sampling."),
    as_json: bool = JsonOpt,
) -> None:
    """KARL's stratified candidate pairs from the catalogue, written into the store's pairs."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        report = build_pool(ctx, per_category, partners, source, seed)
    if as_json:
        emit_json(report)
    else:
        console.print(f"{report.candidates:,} candidate pairs from {report.items:,} items in "
                      f"{report.categories:,} categories; {report.pairs_added:,} new pairs stored")


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
    try:
        fractions = [float(s) for s in shares.split(",")]
    except ValueError:
        raise BadInput(f"--shares must be numbers like 0.7,0.3, got {shares!r}") from None
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        parts = split_pool(ctx, path, fractions, [n.strip() for n in names.split(",")], out_dir, seed)
    if as_json:
        emit_json(parts)
        return
    for part in parts:
        console.print(f"{part.path}: {part.pairs:,} pairs")

"""``pairloop pool build|export|score|split``: candidate pairs for active learning."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pairloop.commands.options import AgreeOpt, JsonOpt, RuleOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.pools import build_pool, export_pool, score_pool, split_pool
from store.errors import BadInput
from store.verified import MajorityRule

app = typer.Typer(help="Build, export and score candidate pools (in the store or as Parquet shards), or split "
                       "labelled pair files.", no_args_is_help=True)

ShardRowsOpt = typer.Option(1_000_000, "--shard-rows", min=1, help="Pairs per Parquet shard.")


@app.command("build")
def build(
    per_category: int = typer.Option(20, "--per-category", min=1, help="Query items per fine category (KARL's Q)."),
    partners: int = typer.Option(10, min=1, help="Partners per query item, same major category (KARL's P)."),
    source: str | None = typer.Option(None, help="Only items of this source (default: all)."),
    seed: int = typer.Option(0, help="Random seed of the sampling."),
    out: Path | None = typer.Option(None, "--out", help="Write the pairs as a pool folder of Parquet shards here "
                                                        "instead of into the store."),
    shard_rows: int = ShardRowsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """KARL's stratified candidate pairs from the catalogue, written into the store's pairs (or, with --out,
    as Parquet shards)."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        report = build_pool(ctx, per_category, partners, source, seed, out, shard_rows)
    if as_json:
        emit_json(report)
        return
    where = f"written to {report.out}" if report.out else f"{report.pairs_added:,} new pairs stored"
    console.print(f"{report.candidates:,} candidate pairs from {report.items:,} items in "
                  f"{report.categories:,} categories; {where}")


@app.command("export")
def export(
    out: Path = typer.Argument(..., help="Pool folder to write (replaced if it holds a pool)."),
    rule: MajorityRule | None = RuleOpt,
    min_agreeing: int | None = AgreeOpt,
    shard_rows: int = ShardRowsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The store's open pool (pairs without a verified label that no open round holds) as Parquet shards."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        report = export_pool(ctx, out, rule, min_agreeing, shard_rows)
    if as_json:
        emit_json(report)
    else:
        console.print(f"{report.pairs:,} open pairs of {report.items:,} items written to {report.out} "
                      f"({report.shards} shards)")


@app.command("score")
def score(
    pool: Path = typer.Argument(..., help="Pool folder (from `pool build --out` or `pool export`)."),
    top: int = typer.Option(1000, "--top", min=1, help="Keep this many least certain pairs."),
    classifier: str | None = typer.Option(None, "--classifier", help="Classifier version (default: the newest)."),
    out: Path | None = typer.Option(None, "--out", help="CSV file for every kept pair (the result lists the first "
                                                        "20)."),
    as_json: bool = JsonOpt,
) -> None:
    """Score every pair of a pool folder and keep the least certain, on Ray when PAIRLOOP_RAY_ADDRESS is set."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        report = score_pool(ctx, pool, top, classifier, out)
    if as_json:
        emit_json(report)
        return
    table = Table("rank", "position", "pair", "item a", "item b", "margin",
                  title=f"least certain pairs (classifier {report.classifier_version})")
    for row in report.best:
        table.add_row(str(row.rank), f"{row.position:,}", "" if row.pair_id is None else str(row.pair_id),
                      row.item_a, row.item_b, f"{row.margin:.4f}")
    console.print(table)
    console.print(f"{report.pairs:,} pairs scored {report.ran_on} in {report.seconds:.1f} s "
                  f"({report.pairs_per_s:,.0f} pairs/s); {report.top:,} kept"
                  + (f", all in {report.out}" if report.out else ""))


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

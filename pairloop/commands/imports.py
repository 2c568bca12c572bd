"""``pairloop import items|labels|pairs|behaviour PATH``: bulk, idempotent, all-or-nothing per file."""

from __future__ import annotations

from pathlib import Path

import typer

from pairloop.commands.options import JsonOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases import imports
from pairloop.usecases.context import Context
from store.formats import FORMATS

app = typer.Typer(help="Import items, labelled pairs, unlabelled candidate pairs or behaviour evidence.",
                  no_args_is_help=True)

FORMAT_HELP = f"One of: {', '.join(FORMATS)}. Default: recognised from the header."
PathArg = typer.Argument(..., help="File or folder to import.")
FormatOpt = typer.Option(None, "--format", "-f", help=FORMAT_HELP)
SourceOpt = typer.Option(None, help="Item source of csv/jsonl rows without a source column (default: catalog); "
                                   "name an existing source to use its items.")


def _show(result: imports.ImportResult, as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    console.print(
        f"{result.path}: {result.rows} rows read; added {result.items_added} items, "
        f"{result.pairs_added} pairs, {result.labels_added} labels, "
        f"{result.behaviour_added} behaviour records"
        + (f"; {result.labels_ignored} labels in the file ignored" if result.labels_ignored else "")
        + (f"; {result.skipped} rows skipped (unknown items)" if result.skipped else "")
    )


@app.command("items")
def import_items(path: Path = PathArg, fmt: str | None = FormatOpt, source: str | None = SourceOpt,
                 as_json: bool = JsonOpt) -> None:
    """Import a catalogue: items only (new items are added, known items' text is refreshed)."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        _show(imports.import_items(ctx, path, fmt, source), as_json)


@app.command("labels")
def import_labels(path: Path = PathArg, fmt: str | None = FormatOpt, source: str | None = SourceOpt,
                  as_json: bool = JsonOpt) -> None:
    """Import labelled pairs (and their items); for BundleRec also its session behaviour."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        _show(imports.import_labels(ctx, path, fmt, source), as_json)


@app.command("pairs")
def import_pairs(path: Path = PathArg, fmt: str | None = FormatOpt, source: str | None = SourceOpt,
                 ignore_labels: bool = typer.Option(False, "--ignore-labels",
                                                    help="Import a labelled file's pairs, leaving its labels out."),
                 as_json: bool = JsonOpt) -> None:
    """Import candidate pairs without labels (and their items): the pool rounds select from."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        _show(imports.import_pairs(ctx, path, fmt, source, ignore_labels), as_json)


@app.command("behaviour")
def import_behaviour(path: Path = PathArg, fmt: str | None = FormatOpt,
                     min_count: int = typer.Option(1, min=1, help="Keep pairs seen together at least this often."),
                     as_json: bool = JsonOpt) -> None:
    """Import behaviour evidence (Instacart baskets, BundleRec sessions); never labels."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        _show(imports.import_behaviour(ctx, path, fmt, min_count), as_json)

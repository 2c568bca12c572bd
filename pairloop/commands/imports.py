"""``pairloop import items|labels|behaviour PATH``: bulk, idempotent, all-or-nothing per file."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from pairloop.console import console, emit_json, progress_bar
from pairloop.settings import get_settings
from pairloop.store_access import open_store
from store import formats
from store.importer import Importer, ImportReport

app = typer.Typer(help="Import items, labelled pairs or behaviour evidence.", no_args_is_help=True)

FORMAT_HELP = f"One of: {', '.join(formats.FORMATS)}. Default: recognised from the header."
PathArg = typer.Argument(..., help="File or folder to import.")
FormatOpt = typer.Option(None, "--format", "-f", help=FORMAT_HELP)
SourceOpt = typer.Option(None, help="Item namespace for csv/jsonl files without a source column.")
JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")


def _run(path: Path, description: str, work, as_json: bool) -> ImportReport:
    engine = open_store(get_settings())
    with progress_bar(f"{description} {path.name}") as advance, engine.begin() as conn:
        importer = Importer(conn, advance)
        work(importer)
        report = importer.finish()
    engine.dispose()
    if as_json:
        emit_json({"path": str(path), **asdict(report)})
    else:
        console.print(
            f"{path}: {report.rows} rows read; added {report.items_added} items, "
            f"{report.pairs_added} pairs, {report.labels_added} labels, "
            f"{report.behaviour_added} behaviour records"
            + (f"; {report.skipped} rows skipped (unknown items)" if report.skipped else "")
        )
    return report


@app.command("items")
def import_items(path: Path = PathArg, fmt: str | None = FormatOpt, source: str | None = SourceOpt,
                 as_json: bool = JsonOpt) -> None:
    """Import a catalogue: items only (new items are added, known items' text is refreshed)."""
    fmt = formats.resolve_format(path, fmt)
    _run(path, "items", lambda imp: imp.items(formats.read_items(path, fmt, source)), as_json)


@app.command("labels")
def import_labels(path: Path = PathArg, fmt: str | None = FormatOpt, source: str | None = SourceOpt,
                  as_json: bool = JsonOpt) -> None:
    """Import labelled pairs (and their items); for BundleRec also its session behaviour."""
    fmt = formats.resolve_format(path, fmt)

    def work(importer: Importer) -> None:
        if fmt == "bundlerec":
            importer.items(formats.read_items(path, fmt))
            importer.behaviour(formats.read_behaviour(path, fmt))
        importer.pairs(formats.read_pairs(path, fmt, source))

    _run(path, "labels", work, as_json)


@app.command("behaviour")
def import_behaviour(path: Path = PathArg, fmt: str | None = FormatOpt,
                     min_count: int = typer.Option(1, min=1, help="Keep pairs seen together at least this often."),
                     as_json: bool = JsonOpt) -> None:
    """Import behaviour evidence (Instacart baskets, BundleRec sessions); never labels."""
    fmt = formats.resolve_format(path, fmt)

    def work(importer: Importer) -> None:
        importer.items(formats.read_items(path, fmt))
        importer.behaviour(formats.read_behaviour(path, fmt, min_count))

    _run(path, "behaviour", work, as_json)

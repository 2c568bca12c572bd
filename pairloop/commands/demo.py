"""``pairloop demo``: the main job on embedded defaults, on a sample catalogue the project writes."""

from __future__ import annotations

import typer

from pairloop.commands.stats import stats
from pairloop.console import console, progress_bar
from pairloop.settings import get_settings
from pairloop.store_access import open_store
from pairloop.sample.catalogue import write_sample
from store import formats
from store.importer import Importer


def demo(seed: int = typer.Option(7, help="Seed of the sample catalogue.")) -> None:
    """Write the sample catalogue, import it with its seed labels and pool, and show the store."""
    settings = get_settings()
    sample = write_sample(settings.data_path / "sample", seed=seed)
    console.print(f"[bold]pairloop demo[/bold] · data in {settings.data_path}")
    engine = open_store(settings)
    steps = [
        ("catalogue", lambda imp: imp.items(formats.read_items(sample.catalogue))),
        ("seed labels", lambda imp: imp.pairs(formats.read_pairs(sample.seed_labels))),
        ("candidate pool", lambda imp: imp.pairs(formats.read_pairs(sample.pool))),
    ]
    for name, work in steps:
        with progress_bar(f"import {name}") as advance, engine.begin() as conn:
            importer = Importer(conn, advance)
            work(importer)
            report = importer.finish()
        console.print(f"  {name}: {report.rows} rows, {report.items_added} new items, "
                      f"{report.pairs_added} new pairs, {report.labels_added} new labels")
    engine.dispose()
    stats(rule=None, min_agreeing=1, as_json=False)

"""``pairloop stats``: what the store holds, and the verified-label distribution."""

from __future__ import annotations

import typer
from rich.table import Table

from pairloop.console import console, emit_json
from pairloop.settings import get_settings
from pairloop.store_access import open_store
from store.stats import store_stats
from store.verified import MajorityRule


def stats(
    rule: MajorityRule | None = typer.Option(None, help="Majority rule (default: PAIRLOOP_MAJORITY_RULE)."),
    min_agreeing: int | None = typer.Option(None, min=1, help="Agreeing answers needed (default: setting)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Items, pairs, labels by source and relation, and verified labels under the majority rule."""
    settings = get_settings()
    engine = open_store(settings)
    with engine.connect() as conn:
        data = store_stats(conn, rule or settings.majority_rule, min_agreeing or settings.min_agreeing)
    engine.dispose()
    if as_json:
        emit_json(data)
        return
    table = Table(title="pairloop store", show_header=False)
    table.add_row("items", f"{data['items']:,}  " + _inline(data["items_by_source"]))
    table.add_row("pairs", f"{data['pairs']:,}")
    for source, counts in sorted(data["labels_by_source"].items()):
        table.add_row(f"labels · {source}", f"{sum(counts.values()):,}  " + _inline(counts))
    if data["behaviour_by_kind"]:
        table.add_row("behaviour", _inline(data["behaviour_by_kind"]))
    verified = data["verified"]
    table.add_row(
        f"verified ({verified['rule']} majority)",
        f"{verified['pairs']:,}  " + _inline(verified["by_relation"])
        + f"; {verified['without_majority']:,} without majority",
    )
    console.print(table)


def _inline(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value:,}" for key, value in sorted(counts.items()))

"""``pairloop stats``: what the store holds, and the verified-label distribution."""

from __future__ import annotations

import typer
from rich.table import Table

from pairloop.commands.options import JsonOpt, RuleOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.store import store_stats
from store.verified import MajorityRule


def stats(
    rule: MajorityRule | None = RuleOpt,
    min_agreeing: int | None = typer.Option(None, min=1, help="Agreeing answers needed (default: setting)."),
    as_json: bool = JsonOpt,
) -> None:
    """Items, pairs, labels by source and relation, and verified labels under the majority rule."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        data = store_stats(ctx, rule, min_agreeing)
    if as_json:
        emit_json(data)
        return
    table = Table(title="pairloop store", show_header=False)
    table.add_row("items", f"{data.items:,}  " + _inline(data.items_by_source))
    if data.graph_entities:
        table.add_row("graph entities", f"{data.graph_entities:,}")
    table.add_row("pairs", f"{data.pairs:,}")
    for source, counts in sorted(data.labels_by_source.items()):
        table.add_row(f"labels · {source}", f"{sum(counts.values()):,}  " + _inline(counts))
    if data.late_labels:
        table.add_row("late answers", f"{data.late_labels:,}  (after their round closed: kept, not counted)")
    if data.behaviour_by_kind:
        table.add_row("behaviour", _inline(data.behaviour_by_kind))
    verified = data.verified
    table.add_row(
        f"verified ({verified.rule.value} majority)",
        f"{verified.pairs:,}  " + _inline(verified.by_relation) + f"; {verified.without_majority:,} without majority",
    )
    console.print(table)


def _inline(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value:,}" for key, value in sorted(counts.items()))

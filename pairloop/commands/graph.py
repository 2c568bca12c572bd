"""``pairloop graph entities|pairs|build|snapshot|snapshots|diff|recommend``: the complementary graph."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from knowledge_graph.pairs import PairPlan
from pairloop.commands.options import AgreeOpt, JsonOpt, RuleOpt, SnapshotOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases import graph as kg
from pairloop.usecases.context import Context
from pairloop.usecases.recall import recommend as recommend_items
from store.verified import MajorityRule

app = typer.Typer(help="Entities, the complementary entity graph, its snapshots and recall.", no_args_is_help=True)
UnverifiedOpt = typer.Option(False, "--include-unverified",
                             help="Also count LLM proposals not accepted and answers without a majority.")
SnapshotOutOpt = typer.Option(None, "--out", help="New folder for the snapshot (default: DATA_DIR/snapshots/VERSION).")


@app.command("entities")
def entities(
    min_count: int = typer.Option(3, min=1, help="Title head terms seen at least this often form the dictionary."),
    report: bool = typer.Option(False, "--report", help="List the items no entity was found for."),
    limit: int = typer.Option(50, min=0, help="With --report: how many unmatched items to list."),
    tagger: bool = typer.Option(False, "--tagger", help="Also train a MiniLM token tagger on the dictionary's "
                                "matches and let it place the items the dictionary missed."),
    as_json: bool = JsonOpt,
) -> None:
    """Extract the entities of every catalogue item (category leaves, title head terms) and store them.

    Japanese titles (any kana or kanji) are read with SudachiPy; Latin titles by English head nouns.
    """
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = kg.extract_entities(ctx, min_count, tagger=tagger, report_limit=limit if report else None)
    if as_json:
        emit_json(result)
        return
    tagged = result.tagger
    console.print(f"{result.matched:,} of {result.items:,} items placed ({result.coverage:.1%}) "
                  f"under {result.entities:,} entities; by method: "
                  + ", ".join(f"{k} {v:,}" for k, v in result.mentions_by_method.items())
                  + (f"; the tagger placed {tagged.placed:,} of {tagged.unmatched_before:,} unmatched"
                     if tagged else ""))
    if "japanese" in result.by_script:
        console.print("by title script: " + ", ".join(f"{script} {c.matched:,} of {c.items:,} ({c.coverage:.1%})"
                                                      for script, c in result.by_script.items()))
    if result.unmatched_items is not None:
        table = Table(title=f"unmatched items ({result.items - result.matched:,}; "
                            f"first {len(result.unmatched_items)})")
        table.add_column("item")
        table.add_column("title")
        for row in result.unmatched_items:
            table.add_row(row.item, row.title)
        console.print(table)


@app.command("pairs")
def pairs(
    head_share: float = typer.Option(0.2, min=0.01, max=1.0, help="Share of entities (by items) in the head."),
    head_head_cap: int = typer.Option(2000, min=0, help="Most head × head pairs."),
    per_tail: int = typer.Option(3, min=0, help="Head partners per tail entity."),
    tail_tail_cap: int = typer.Option(200, min=0, help="Most tail × tail pairs."),
    limit: int | None = typer.Option(None, min=1, help="Most pairs in all."),
    propose: bool = typer.Option(False, "--propose", help="Ask the configured LLM about them (PAIRLOOP_LLM_*)."),
    as_json: bool = JsonOpt,
) -> None:
    """Cost-aware entity pairs (head/tail segments with caps), stored as pairs for the LLM and humans.

    The pairs go through the same path as item pairs: `--propose` stores the LLM's proposals
    (auto-accepted only where the trust gate allows), and rounds send them to annotators.
    """
    plan = PairPlan(head_share, head_head_cap, per_tail, tail_tail_cap, limit)
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = kg.entity_pairs(ctx, plan, propose=propose)
    if as_json:
        emit_json(result)
        return
    console.print(f"{result.pairs:,} entity pairs stored ("
                  + ", ".join(f"{k} {v:,}" for k, v in result.by_segment.items()) + ")"
                  + (f"; LLM: {result.proposals}" if result.proposals is not None else ""))


@app.command("build")
def build(
    rule: MajorityRule | None = RuleOpt,
    min_agreeing: int | None = AgreeOpt,
    include_unverified: bool = UnverifiedOpt,
    top: int = typer.Option(10, min=0, help="Heaviest edges to show."),
    as_json: bool = JsonOpt,
) -> None:
    """Build the graph from the labels as they are now and report it (`graph snapshot` freezes it)."""
    evidence = kg.EvidenceRule(rule=rule, min_agreeing=min_agreeing, include_unverified=include_unverified)
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = kg.build(ctx, evidence, top)
    if as_json:
        emit_json(result)
        return
    console.print(f"{result.nodes:,} entities, {result.edges:,} edges "
                  f"({result.edges_complementary:,} complementary, {result.edges_substitute:,} substitute, "
                  f"{result.edges_verified:,} verified) from {result.evidence_used:,} labelled pairs; "
                  f"label set {result.label_set_hash[:12]}")
    if result.heaviest:
        table = Table(title="heaviest edges")
        for column in ("entity a", "entity b", "relation", "weight", "confidence", "sources"):
            table.add_column(column)
        for e in result.heaviest:
            table.add_row(e.a, e.b, e.relation, f"{e.weight:.2f}", f"{e.confidence:.2f}",
                          ", ".join(f"{k} {v}" for k, v in e.sources.items()))
        console.print(table)


@app.command("snapshot")
def snapshot(
    out: Path | None = SnapshotOutOpt,
    version: str | None = typer.Option(None, help="Version name (default: the next vNNNN)."),
    rule: MajorityRule | None = RuleOpt,
    min_agreeing: int | None = AgreeOpt,
    include_unverified: bool = UnverifiedOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Freeze the graph: Parquet, JSONL, GraphML and a manifest of checksums, in a new folder."""
    evidence = kg.EvidenceRule(rule=rule, min_agreeing=min_agreeing, include_unverified=include_unverified)
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = kg.take_snapshot(ctx, out, version, evidence)
    if as_json:
        emit_json(result)
        return
    console.print(f"snapshot {result.version} → {result.path}: {result.counts['nodes']:,} entities, "
                  f"{result.counts['edges']:,} edges; checksum {result.checksum[:12]}; "
                  f"parent {result.parent_version or '-'}")


@app.command("snapshots")
def snapshots(as_json: bool = JsonOpt) -> None:
    """Registered snapshots, newest first."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        rows = kg.list_snapshots(ctx)
    if as_json:
        emit_json(rows)
        return
    table = Table(title="graph snapshots")
    for column in ("version", "parent", "created", "entities", "edges", "checksum", "path"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.version, r.parent_version or "-", r.created_at, str(r.counts["nodes"]),
                      str(r.counts["edges"]), r.checksum[:12], r.path)
    console.print(table)


@app.command("diff")
def diff(
    old: str = typer.Argument(..., help="Older snapshot: version or folder."),
    new: str = typer.Argument(..., help="Newer snapshot: version or folder."),
    limit: int = typer.Option(20, min=0, help="Edges listed per kind of change."),
    as_json: bool = JsonOpt,
) -> None:
    """What changed between two snapshots: entities and edges added, removed, reweighted."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = kg.diff(ctx, old, new)
    if as_json:
        emit_json(result)
        return
    console.print(f"{result.old.version} → {result.new.version}: "
                  + ("identical content" if result.identical else
                     f"{len(result.nodes_added)} entities added, {len(result.nodes_removed)} removed; "
                     f"{len(result.edges_added)} edges added, {len(result.edges_removed)} removed, "
                     f"{len(result.edges_reweighted)} reweighted"))
    for kind, edges in (("added", result.edges_added), ("removed", result.edges_removed),
                        ("reweighted", result.edges_reweighted)):
        for edge in edges[:limit]:
            console.print(f"  {kind}: {edge.a} — {edge.b} ({edge.relation})")


@app.command("recommend")
def recommend(
    item: str = typer.Argument(..., help="Item: SOURCE:EXTERNAL_ID, or an external id unique in the catalogue."),
    k: int = typer.Option(10, "--k", min=1, help="How many items."),
    snapshot_ref: str | None = SnapshotOpt,
    route: str | None = typer.Option(
        None, "--route", help="hybrid (every route blended; the default after `pairloop hybrid train`), "
                              "graph+eei (the default when the snapshot has an E-E-I model), graph (edge weights; "
                              "the default otherwise) or title-similarity (nearest titles, no graph)."),
    as_json: bool = JsonOpt,
) -> None:
    """Complementary items for an item, by the best route the snapshot has (or the one --route names).

    The best is the hybrid once `pairloop hybrid train` has run: the complementary graph ranked
    by E-E-I, title similarity, co-occurrence and popularity, blended by weights learnt on
    held-out pairs. The table's title and `ranked_by` in --json name the route that ranked the
    items. How the routes compare (`pairloop evaluate-recall`): docs/results/recall/README.md.

    No items is an answer (exit 0) with its reason: no entity, no complementary edge, or no other
    item of the complementary entities. An item the snapshot does not know exits 2.
    """
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = recommend_items(ctx, item, k, snapshot_ref, route)
    if as_json:
        emit_json(result)
        return
    console.print(f"{result.item} {result.title or ''} — entities: {', '.join(result.entities) or '(none)'}")
    if not result.items:
        console.print(f"no complementary items ({result.reason}): {result.explanation}")
        return
    table = Table(title=f"complementary items (snapshot {result.snapshot}, ranked by {result.ranked_by})")
    for column in ("#", "item", "title", "score"):
        table.add_column(column)
    for rank, row in enumerate(result.items, 1):
        table.add_row(str(rank), row.item, (row.title or "")[:70], f"{row.score:.4f}")
    console.print(table)

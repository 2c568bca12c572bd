"""``pairloop graph entities|pairs|build|snapshot|snapshots|diff|recommend``: the complementary graph."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from sqlalchemy import Engine

from knowledge_graph import store_io
from knowledge_graph.entities import EntityDictionary, Extraction, build_dictionary, extract
from knowledge_graph.graph import EntityGraph, build_graph
from knowledge_graph.pairs import PairPlan, generate_pairs, segment_counts
from knowledge_graph.records import CatalogueItem
from pairloop.console import console, emit_json, err_console, progress_bar
from pairloop.settings import Settings, get_settings
from pairloop.store_access import open_store
from store.errors import BadInput
from store.verified import MajorityRule

if TYPE_CHECKING:
    from knowledge_graph.snapshots import LoadedSnapshot

app = typer.Typer(help="Entities, the complementary entity graph, its snapshots and recall.", no_args_is_help=True)
JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")
RuleOpt = typer.Option(None, help="Majority rule (default: PAIRLOOP_MAJORITY_RULE).")
AgreeOpt = typer.Option(None, min=1, help="Agreeing human answers a verified label needs (default: setting; "
                        "1 for single-annotator sources such as BundleRec bundles).")
UnverifiedOpt = typer.Option(False, "--include-unverified",
                             help="Also count LLM proposals not accepted and answers without a majority.")
SnapshotOpt = typer.Option(None, "--snapshot", help="Snapshot version or folder (default: the newest).")
SnapshotOutOpt = typer.Option(None, "--out", help="New folder for the snapshot (default: DATA_DIR/snapshots/VERSION).")


# --- helpers shared with `pairloop gnn` and `pairloop eei` --------------------------------------

def model_dir(settings: Settings, version: str) -> Path:
    """Where the GNN and E-E-I models trained on one snapshot live."""
    return settings.data_path / "models" / "kg" / version


def open_snapshot(engine: Engine, ref: str | None) -> LoadedSnapshot:
    """A snapshot by version, by folder, or the newest registered one; verified on load."""
    from knowledge_graph.snapshots import load_snapshot

    if ref is not None and Path(ref).is_dir():
        return load_snapshot(Path(ref))
    with engine.connect() as conn:
        row = store_io.latest_snapshot(conn) if ref is None else store_io.get_snapshot(conn, ref)
    if row is None:
        raise BadInput("no graph snapshot yet: run `pairloop graph snapshot` first" if ref is None
                       else f"no snapshot version or folder {ref!r}")
    return load_snapshot(Path(row.path))


def _build(engine: Engine, settings: Settings, rule: MajorityRule | None, min_agreeing: int | None,
           include_unverified: bool) -> tuple[EntityGraph, Any]:
    with engine.connect() as conn:
        extraction = store_io.read_extraction(conn)
        evidence = store_io.read_evidence(conn, rule or settings.majority_rule,
                                          min_agreeing or settings.min_agreeing, include_unverified)
    return build_graph(extraction, evidence, include_unverified=include_unverified)


# --- commands -----------------------------------------------------------------------------------

@app.command("entities")
def entities(
    min_count: int = typer.Option(3, min=1, help="Title head terms seen at least this often form the dictionary."),
    report: bool = typer.Option(False, "--report", help="List the items no entity was found for."),
    limit: int = typer.Option(50, min=0, help="With --report: how many unmatched items to list."),
    tagger: bool = typer.Option(False, "--tagger", help="Also train a MiniLM token tagger on the dictionary's "
                                "matches and let it place the items the dictionary missed."),
    as_json: bool = JsonOpt,
) -> None:
    """Extract the entities of every catalogue item (category leaves, title head terms) and store them."""
    engine = open_store(get_settings())
    with engine.connect() as conn:
        items, ids = store_io.read_catalogue(conn)
    if not items:
        raise BadInput("the catalogue is empty: import items first (`pairloop import items|labels`)")
    with progress_bar("extracting entities", len(items)) as advance:
        dictionary = build_dictionary(items, min_count)
        extraction = extract(items, dictionary)
        advance(len(items))
    tagged = _tag(extraction, items, dictionary) if tagger else None
    with engine.begin() as conn:
        links = store_io.save_extraction(conn, extraction, ids)
    engine.dispose()
    summary = {**extraction.report(), "links": links, **({"tagger": tagged} if tagged else {})}
    titles = {item.key: item.title for item in items}
    unmatched = [{"item": key, "title": titles[key]} for key in extraction.unmatched[:limit]] if report else []
    if as_json:
        emit_json({**summary, "unmatched_items": unmatched} if report else summary)
        return
    console.print(f"{summary['matched']:,} of {summary['items']:,} items placed ({summary['coverage']:.1%}) "
                  f"under {summary['entities']:,} entities; by method: "
                  + ", ".join(f"{k} {v:,}" for k, v in summary["mentions_by_method"].items())
                  + (f"; the tagger placed {tagged['placed']:,} of {tagged['unmatched_before']:,} unmatched"
                     if tagged else ""))
    if report:
        table = Table(title=f"unmatched items ({len(extraction.unmatched):,}; first {len(unmatched)})")
        table.add_column("item")
        table.add_column("title")
        for row in unmatched:
            table.add_row(row["item"], row["title"])
        console.print(table)


def _tag(extraction: Extraction, items: list[CatalogueItem], dictionary: EntityDictionary) -> dict[str, Any]:
    from knowledge_graph.tagger import tag_unmatched, train_tagger, training_examples

    examples = training_examples(items, dictionary)
    if not examples:
        raise BadInput("the dictionary matched no title head terms: nothing to train the tagger on")
    with progress_bar("training the entity tagger", 40) as advance:
        model, losses = train_tagger(examples, progress=advance)
    unmatched = len(extraction.unmatched)
    with err_console.status("tagging the unmatched items"):
        placed = tag_unmatched(extraction, items, model)
    return {"examples": len(examples), "unmatched_before": unmatched, "placed": placed,
            "first_loss": round(losses[0], 4), "last_loss": round(losses[-1], 4)}


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
    settings = get_settings()
    engine = open_store(settings)
    with engine.connect() as conn:
        extraction = store_io.read_extraction(conn)
        affinity = store_io.entity_affinity(conn)
        judged = store_io.judged_entity_pairs(conn)
    popularity = {entity: len(keys) for entity, keys in extraction.members().items()}
    plan = PairPlan(head_share, head_head_cap, per_tail, tail_tail_cap, limit)
    chosen = generate_pairs(popularity, plan, affinity, judged)
    with engine.begin() as conn:
        pair_ids = store_io.ensure_entity_pairs(conn, [(p.a, p.b) for p in chosen])
    summary: dict[str, Any] = {"pairs": len(chosen), "by_segment": segment_counts(chosen),
                               "already_judged": len(judged)}
    if propose and chosen:
        summary["proposals"] = _propose_entity_pairs(engine, settings, list(pair_ids.values()))
    engine.dispose()
    if as_json:
        emit_json(summary)
        return
    console.print(f"{len(chosen):,} entity pairs stored (" + ", ".join(
        f"{k} {v:,}" for k, v in summary["by_segment"].items()) + ")"
        + (f"; LLM: {summary['proposals']}" if "proposals" in summary else ""))


def _propose_entity_pairs(engine: Engine, settings: Settings, pair_ids: list[int]) -> dict[str, int]:
    """The LLM's proposals as LLM labels; only those the trust gate accepts count as verified."""
    from annotator.llm import propose_cached
    from annotator.trust_gate import latest_gate
    from pairloop.usecases.rounds import labeller_from_settings
    from store.repository import insert_labels
    from store.taxonomy import LabelSource, Verdict

    labeller = labeller_from_settings(settings)
    with progress_bar(f"LLM judging entity pairs ({labeller.model_name})", len(pair_ids)) as advance:
        proposals = propose_cached(engine, labeller, pair_ids, advance)
    with engine.begin() as conn:
        gate = latest_gate(conn, labeller.model_name, labeller.prompt_version)
        accepted = {pid for pid, p in proposals.items() if gate is not None and gate.accepts(p)}
        insert_labels(conn, [{
            "pair_id": pid, "verdict": Verdict.LABEL.value, "relation": p.relation.value,
            "fine_code": p.fine_code, "source": LabelSource.LLM.value, "actor": p.model,
            "prompt_version": p.prompt_version, "confidence": p.confidence, "rationale": p.rationale,
            "auto_accepted": pid in accepted,
            "external_key": f"llm:kg:{pid}:{p.model}:{p.prompt_version}",
        } for pid, p in proposals.items() if p.relation is not None])
    by_status: dict[str, int] = {}
    for p in proposals.values():
        by_status[p.status.value] = by_status.get(p.status.value, 0) + 1
    return {**by_status, "auto_accepted": len(accepted)}


@app.command("build")
def build(
    rule: MajorityRule | None = RuleOpt,
    min_agreeing: int | None = AgreeOpt,
    include_unverified: bool = UnverifiedOpt,
    top: int = typer.Option(10, min=0, help="Heaviest edges to show."),
    as_json: bool = JsonOpt,
) -> None:
    """Build the graph from the labels as they are now and report it (`graph snapshot` freezes it)."""
    settings = get_settings()
    engine = open_store(settings)
    graph, report = _build(engine, settings, rule, min_agreeing, include_unverified)
    engine.dispose()
    heaviest = sorted(graph.edges, key=lambda e: (-e.weight, e.key))[:top]
    summary = {**graph.counts(), "label_set_hash": graph.label_set_hash, "evidence": report.evidence,
               "evidence_used": report.used, "skipped_unverified": report.skipped_unverified,
               "skipped_without_entity": report.skipped_no_entity,
               "heaviest": [{"a": e.a, "b": e.b, "relation": e.relation, "weight": e.weight,
                             "confidence": e.confidence, "sources": e.sources} for e in heaviest]}
    if as_json:
        emit_json(summary)
        return
    console.print(f"{graph.counts()['nodes']:,} entities, {len(graph.edges):,} edges "
                  f"({summary['edges_complementary']:,} complementary, {summary['edges_substitute']:,} substitute, "
                  f"{summary['edges_verified']:,} verified) from {report.used:,} labelled pairs; "
                  f"label set {graph.label_set_hash[:12]}")
    if heaviest:
        table = Table(title="heaviest edges")
        for column in ("entity a", "entity b", "relation", "weight", "confidence", "sources"):
            table.add_column(column)
        for e in heaviest:
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
    from knowledge_graph.snapshots import write_snapshot

    settings = get_settings()
    engine = open_store(settings)
    with engine.connect() as conn:
        version = version or store_io.next_version(conn)
        if store_io.get_snapshot(conn, version) is not None:
            raise BadInput(f"snapshot version {version} exists; versions are immutable")
        parent = store_io.latest_snapshot(conn)
    out = out or settings.data_path / "snapshots" / version
    if out.exists():
        raise BadInput("the snapshot folder exists; snapshots are immutable, choose a new folder", out)
    graph, _report = _build(engine, settings, rule, min_agreeing, include_unverified)
    with progress_bar(f"writing snapshot {version}") as advance:
        manifest = write_snapshot(graph, out, version=version, parent_version=parent.version if parent else None,
                                  created_at=store_io.now_iso(), verified_only=not include_unverified)
        advance(1)
    try:
        with engine.begin() as conn:
            store_io.register_snapshot(conn, manifest, str(out.resolve()))
    except Exception:
        # Not registered (e.g. another process took the version): the folder is ours, take it back.
        shutil.rmtree(out, ignore_errors=True)
        raise
    engine.dispose()
    if as_json:
        emit_json({**manifest.data, "path": str(out)})
        return
    counts = manifest.data["counts"]
    console.print(f"snapshot {version} → {out}: {counts['nodes']:,} entities, {counts['edges']:,} edges; "
                  f"checksum {manifest.checksum[:12]}; parent {manifest.data['parent_version'] or '-'}")


@app.command("snapshots")
def snapshots(as_json: bool = JsonOpt) -> None:
    """Registered snapshots, newest first."""
    engine = open_store(get_settings())
    with engine.connect() as conn:
        rows = store_io.list_snapshots(conn)
    engine.dispose()
    if as_json:
        emit_json(rows)
        return
    table = Table(title="graph snapshots")
    for column in ("version", "parent", "created", "entities", "edges", "checksum", "path"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["version"], r["parent_version"] or "-", r["created_at"], str(r["counts"]["nodes"]),
                      str(r["counts"]["edges"]), r["checksum"][:12], r["path"])
    console.print(table)


@app.command("diff")
def diff(
    old: str = typer.Argument(..., help="Older snapshot: version or folder."),
    new: str = typer.Argument(..., help="Newer snapshot: version or folder."),
    limit: int = typer.Option(20, min=0, help="Edges listed per kind of change."),
    as_json: bool = JsonOpt,
) -> None:
    """What changed between two snapshots: entities and edges added, removed, reweighted."""
    from knowledge_graph.snapshots import diff_snapshots

    engine = open_store(get_settings())
    result = diff_snapshots(open_snapshot(engine, old), open_snapshot(engine, new))
    engine.dispose()
    if as_json:
        emit_json(result)
        return
    console.print(f"{result['old']['version']} → {result['new']['version']}: "
                  + ("identical content" if result["identical"] else
                     f"{len(result['nodes_added'])} entities added, {len(result['nodes_removed'])} removed; "
                     f"{len(result['edges_added'])} edges added, {len(result['edges_removed'])} removed, "
                     f"{len(result['edges_reweighted'])} reweighted"))
    for kind in ("edges_added", "edges_removed", "edges_reweighted"):
        for edge in result[kind][:limit]:
            console.print(f"  {kind.removeprefix('edges_')}: {edge['a']} — {edge['b']} ({edge['relation']})")


@app.command("recommend")
def recommend(
    item: str = typer.Argument(..., help="Item: SOURCE:EXTERNAL_ID, or an external id unique in the catalogue."),
    k: int = typer.Option(10, "--k", min=1, help="How many items."),
    snapshot_ref: str | None = SnapshotOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Complementary items: the item's entities → complementary entities → their items, by E-E-I score."""
    from knowledge_graph.recall import GraphRecall
    from pairloop.commands.eei import load_scorer

    settings = get_settings()
    engine = open_store(settings)
    loaded = open_snapshot(engine, snapshot_ref)
    key = _resolve_item(loaded.graph, item)
    scorer = load_scorer(settings, loaded)
    ranked = GraphRecall(loaded.graph, scorer=scorer).recommend(key, k)
    with engine.connect() as conn:
        items, _ids = store_io.read_catalogue(conn)
    engine.dispose()
    titles = {i.key: i.title for i in items}
    rows = [{"item": c, "title": titles.get(c), "score": s, "entities": list(loaded.graph.item_entities.get(c, ()))}
            for c, s in ranked]
    result = {"item": key, "title": titles.get(key), "entities": list(loaded.graph.item_entities[key]),
              "snapshot": loaded.manifest.version, "ranked_by": "eei" if scorer else "graph", "items": rows}
    if as_json:
        emit_json(result)
        return
    console.print(f"{key} {titles.get(key) or ''} — entities: {', '.join(result['entities']) or '(none)'}")
    if not rows:
        console.print("no complementary items: the item's entities have no complementary edges")
    table = Table(title=f"complementary items (snapshot {result['snapshot']}, ranked by {result['ranked_by']})")
    for column in ("#", "item", "title", "score"):
        table.add_column(column)
    for rank, row in enumerate(rows, 1):
        table.add_row(str(rank), row["item"], (row["title"] or "")[:70], f"{row['score']:.4f}")
    console.print(table)


def _resolve_item(graph: EntityGraph, ref: str) -> str:
    if ref in graph.item_entities:
        return ref
    matches = [key for key in graph.item_entities if key.split(":", 1)[-1] == ref]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise BadInput(f"item id {ref!r} is ambiguous ({', '.join(matches[:3])}): use SOURCE:EXTERNAL_ID")
    raise BadInput(f"unknown item {ref!r}: not in the snapshot's catalogue")

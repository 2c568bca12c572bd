"""The complementary entity graph: entities, entity pairs, the graph, its snapshots.

``pairloop graph ...`` and the snapshot endpoints of the service run these. Snapshots are
immutable: a version or a folder that exists is never written again, and every read checks
the files against the manifest (a snapshot that fails is
:class:`~knowledge_graph.snapshots.SnapshotCorrupted`, never read or served).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from annotator.trust_gate import latest_gate
from knowledge_graph import store_io
from knowledge_graph.entities import EntityDictionary, Extraction, build_dictionary, coverage_by_script, extract
from knowledge_graph.graph import BuildReport, EntityGraph, build_graph
from knowledge_graph.pairs import PairPlan, generate_pairs, segment_counts
from knowledge_graph.records import CatalogueItem
from pairloop.usecases.context import Context
from pairloop.usecases.proposals import propose_labels
from store.errors import BadInput, NotFound
from store.verified import MajorityRule

if TYPE_CHECKING:
    from knowledge_graph.snapshots import LoadedSnapshot


# --- entities -----------------------------------------------------------------------------------

class EntitySize(BaseModel):
    entity: str
    items: int


class UnmatchedItem(BaseModel):
    item: str
    title: str


class ScriptCoverage(BaseModel):
    """The items whose titles took one path (Latin: English head nouns; Japanese: SudachiPy)."""

    items: int
    matched: int
    coverage: float


class TaggerReport(BaseModel):
    """The MiniLM token tagger trained on the dictionary's matches, and what it placed."""

    examples: int = Field(description="Titles it was trained on.")
    unmatched_before: int = Field(description="Items the dictionary left without an entity.")
    placed: int = Field(description="Of those, the items the tagger gave an entity.")
    first_loss: float
    last_loss: float


class EntitiesExtracted(BaseModel):
    """The stored extraction: how many items got an entity, and by which method."""

    items: int
    matched: int = Field(description="Items with at least one entity.")
    coverage: float = Field(description="matched / items.")
    entities: int
    mentions_by_method: dict[str, int] = Field(description="category / title / tagger.")
    largest_entities: list[EntitySize] = Field(description="The ten entities with the most items.")
    links: int = Field(description="Item → entity links written.")
    tagger: TaggerReport | None = Field(None, description="Only when the tagger was asked for.")
    unmatched_items: list[UnmatchedItem] | None = Field(
        None, description="Items without an entity (the first ones), when a report was asked for.")
    by_script: dict[str, ScriptCoverage] = Field(
        default_factory=dict, description="latin / japanese: items, matched and coverage by the path their "
        "titles took.")


def extract_entities(ctx: Context, min_count: int = 3, *, tagger: bool = False,
                     report_limit: int | None = None) -> EntitiesExtracted:
    """Extract the entities of every catalogue item (category leaves, title head terms; Japanese
    titles through SudachiPy), with the optional tagger for the items the dictionary missed,
    and replace the stored links.
    With ``report_limit``, list that many of the items still without an entity."""
    with ctx.engine.connect() as conn:
        items, ids = store_io.read_catalogue(conn)
    if not items:
        raise BadInput("the catalogue is empty: import items first (`pairloop import items|labels`)")
    with ctx.progress.task("extracting entities", len(items)) as advance:
        dictionary = build_dictionary(items, min_count)
        extraction = extract(items, dictionary)
        advance(len(items))
    tagged = _tag(ctx, extraction, items, dictionary) if tagger else None
    with ctx.engine.begin() as conn:
        links = store_io.save_extraction(conn, extraction, ids)
    unmatched = None
    if report_limit is not None:
        titles = {item.key: item.title for item in items}
        unmatched = [UnmatchedItem(item=key, title=titles[key]) for key in extraction.unmatched[:report_limit]]
    return EntitiesExtracted(**extraction.report(), links=links, tagger=tagged, unmatched_items=unmatched,
                             by_script=coverage_by_script(items, extraction))


def _tag(ctx: Context, extraction: Extraction, items: list[CatalogueItem],
         dictionary: EntityDictionary) -> TaggerReport:
    from knowledge_graph.tagger import tag_unmatched, train_tagger, training_examples

    examples = training_examples(items, dictionary)
    if not examples:
        raise BadInput("the dictionary matched no title head terms: nothing to train the tagger on")
    with ctx.progress.task("training the entity tagger", 40) as advance:
        model, losses = train_tagger(examples, progress=advance)
    unmatched = len(extraction.unmatched)
    with ctx.progress.status("tagging the unmatched items"):
        placed = tag_unmatched(extraction, items, model)
    return TaggerReport(examples=len(examples), unmatched_before=unmatched, placed=placed,
                        first_loss=round(losses[0], 4), last_loss=round(losses[-1], 4))


# --- entity pairs -------------------------------------------------------------------------------

class EntityPairs(BaseModel):
    """Entity pairs stored for the LLM and annotators, and what the LLM said about them."""

    pairs: int
    by_segment: dict[str, int] = Field(description="head×head / head×tail / tail×tail.")
    already_judged: int = Field(description="Entity pairs with an answer already: not asked again.")
    proposals: dict[str, int] | None = Field(
        None, description="With --propose: proposals by status (agreed, disputed, unlabelled) and "
        "auto_accepted, those the trust gate let through.")


def entity_pairs(ctx: Context, plan: PairPlan, *, propose: bool = False) -> EntityPairs:
    """Cost-aware entity pairs (head/tail segments with caps), stored as ordinary pairs.

    With ``propose`` the configured LLM is asked about them; its answers become LLM labels,
    auto-accepted only where the model's latest trust gate allows (as in rounds).
    """
    with ctx.engine.connect() as conn:
        extraction = store_io.read_extraction(conn)
        affinity = store_io.entity_affinity(conn)
        judged = store_io.judged_entity_pairs(conn)
    popularity = {entity: len(keys) for entity, keys in extraction.members().items()}
    chosen = generate_pairs(popularity, plan, affinity, judged)
    with ctx.engine.begin() as conn:
        pair_ids = store_io.ensure_entity_pairs(conn, [(p.a, p.b) for p in chosen])
    proposals = None
    if propose and chosen:
        labeller = ctx.labeller()
        with ctx.engine.connect() as conn:
            gate = latest_gate(conn, labeller.model_name, labeller.prompt_version)
        report = propose_labels(ctx, labeller, list(pair_ids.values()), gate, scope="kg").report
        proposals = {**report.by_status, "auto_accepted": report.auto_accepted}
    return EntityPairs(pairs=len(chosen), by_segment=segment_counts(chosen), already_judged=len(judged),
                       proposals=proposals)


# --- the graph ----------------------------------------------------------------------------------

class EvidenceRule(BaseModel):
    """Which labels count as graph evidence (defaults: the settings' verified-label rule)."""

    rule: MajorityRule | None = Field(None, description="Majority rule (default: PAIRLOOP_MAJORITY_RULE).")
    min_agreeing: int | None = Field(None, ge=1, description="Agreeing human answers a verified label needs.")
    include_unverified: bool = Field(False, description="Also count LLM proposals not accepted and answers "
                                     "without a majority.")


def _graph(ctx: Context, evidence: EvidenceRule) -> tuple[EntityGraph, BuildReport]:
    settings = ctx.settings
    with ctx.engine.connect() as conn:
        extraction = store_io.read_extraction(conn)
        found = store_io.read_evidence(conn, evidence.rule or settings.majority_rule,
                                       evidence.min_agreeing or settings.min_agreeing, evidence.include_unverified)
    return build_graph(extraction, found, include_unverified=evidence.include_unverified)


class GraphEdge(BaseModel):
    a: str
    b: str
    relation: str
    weight: float
    confidence: float = Field(description="The relation's share of all evidence on the entity pair.")
    sources: dict[str, int] = Field(description="Labels behind the edge by who decided them (human, import, llm).")


class GraphBuilt(BaseModel):
    """The graph the labels give now (not frozen: `graph snapshot` freezes it)."""

    nodes: int
    edges: int
    edges_complementary: int
    edges_substitute: int
    edges_verified: int
    items: int = Field(description="Catalogue items with their entities.")
    label_set_hash: str = Field(description="Hash of the evidence used, independent of ids and order.")
    evidence: int
    evidence_used: int
    skipped_unverified: int
    skipped_without_entity: int
    heaviest: list[GraphEdge]


def build(ctx: Context, evidence: EvidenceRule | None = None, top: int = 10) -> GraphBuilt:
    """Build the graph from the labels as they are now; ``top`` heaviest edges listed."""
    graph, report = _graph(ctx, evidence or EvidenceRule())
    heaviest = sorted(graph.edges, key=lambda e: (-e.weight, e.key))[:top]
    return GraphBuilt(
        **graph.counts(), label_set_hash=graph.label_set_hash, evidence=report.evidence,
        evidence_used=report.used, skipped_unverified=report.skipped_unverified,
        skipped_without_entity=report.skipped_no_entity,
        heaviest=[GraphEdge(a=e.a, b=e.b, relation=e.relation, weight=e.weight, confidence=e.confidence,
                            sources=e.sources) for e in heaviest])


# --- snapshots ----------------------------------------------------------------------------------

class SnapshotFile(BaseModel):
    sha256: str
    bytes: int


class SnapshotManifest(BaseModel):
    """A snapshot's manifest.json as written: counts, the sha256 of every file, label-set hash, parent."""

    model_config = ConfigDict(extra="allow")  # served verbatim: a key this code does not know is kept

    format: str
    version: str
    parent_version: str | None
    created_at: str
    label_set_hash: str
    verified_only: bool
    counts: dict[str, int]
    files: dict[str, SnapshotFile]
    checksum: str = Field(description="sha256 of the data files' sha256s: same labels, same checksum.")


class SnapshotTaken(SnapshotManifest):
    path: str = Field(description="The snapshot's folder.")


def take_snapshot(ctx: Context, out: Path | None = None, version: str | None = None,
                  evidence: EvidenceRule | None = None) -> SnapshotTaken:
    """Freeze the graph: Parquet, JSONL, GraphML and a manifest of checksums, in a new folder
    (default DATA_DIR/snapshots/VERSION), registered as the next version (default vNNNN).

    The folder appears and the version is registered together: the registration commits only
    once the folder is in place. One process at a time writes snapshots into a folder, and it
    first clears what a writer killed part-way left there: staging folders, and the snapshot
    of this version that it published but did not live to register."""
    from knowledge_graph.snapshots import publish, stage_snapshot, writing_snapshots

    evidence = evidence or EvidenceRule()
    graph, _report = _graph(ctx, evidence)
    with writing_snapshots(out.parent if out else ctx.settings.data_path / "snapshots"):
        with ctx.engine.connect() as conn:
            version = version or store_io.next_version(conn)
            if store_io.get_snapshot(conn, version) is not None:
                raise BadInput(f"snapshot version {version} exists; versions are immutable")
            parent = store_io.latest_snapshot(conn)
        out = out or ctx.settings.data_path / "snapshots" / version
        if _unregistered(out, version):
            shutil.rmtree(out)
        with ctx.progress.task(f"writing snapshot {version}") as advance:
            staged, manifest = stage_snapshot(graph, out, version=version, created_at=store_io.now_iso(),
                                              parent_version=parent.version if parent else None,
                                              verified_only=not evidence.include_unverified)
            advance(1)
        try:
            with ctx.engine.begin() as conn:
                store_io.register_snapshot(conn, manifest, str(out.resolve()))
                publish(staged, out)
        except BaseException:
            # Not registered (another process took the version, the commit failed): the folder,
            # staged or already moved into place, is ours; take it back.
            shutil.rmtree(staged if staged.exists() else out, ignore_errors=True)
            raise
    return SnapshotTaken(**manifest.data, path=str(out))


def _unregistered(folder: Path, version: str) -> bool:
    """Whether ``folder`` holds a snapshot of ``version`` (a version not registered) that a writer
    published and died before registering. A folder that is no snapshot, or one of another
    version, is never taken for one."""
    from knowledge_graph.snapshots import SnapshotCorrupted, read_manifest

    if not folder.is_dir():
        return False
    try:
        return read_manifest(folder).data.get("version") == version
    except SnapshotCorrupted:
        return False


class SnapshotInfo(BaseModel):
    """A registered snapshot, as consumers see it."""

    version: str
    parent_version: str | None
    created_at: str
    counts: dict[str, int]
    checksum: str
    label_set_hash: str


class RegisteredSnapshot(SnapshotInfo):
    path: str = Field(description="Its folder on this machine (not sent by the service).")


def list_snapshots(ctx: Context) -> list[RegisteredSnapshot]:
    """Registered snapshots, newest first."""
    with ctx.engine.connect() as conn:
        return [RegisteredSnapshot(**row) for row in store_io.list_snapshots(conn)]


def _registered_folder(ctx: Context, version: str) -> Path:
    with ctx.engine.connect() as conn:
        row = store_io.get_snapshot(conn, version)
    if row is None:
        raise NotFound(f"no snapshot {version!r}")
    return Path(row.path)


def snapshot_manifest(ctx: Context, version: str) -> SnapshotManifest:
    """A registered snapshot's manifest, every file checked against its sha256 first."""
    from knowledge_graph.snapshots import verify

    return SnapshotManifest(**verify(_registered_folder(ctx, version)).data)


def snapshot_file(ctx: Context, version: str, name: str) -> Path:
    """One file of a registered snapshot (data files or the manifest), after checking them all."""
    from knowledge_graph.snapshots import DATA_FILES, MANIFEST, verify

    if name not in (*DATA_FILES, MANIFEST):
        raise NotFound(f"no file {name!r}; files: {', '.join((*DATA_FILES, MANIFEST))}")
    folder = _registered_folder(ctx, version)
    verify(folder)
    return folder / name


def open_snapshot(ctx: Context, ref: str | None) -> LoadedSnapshot:
    """A snapshot by version, by folder, or the newest registered one; verified on load."""
    from knowledge_graph.snapshots import load_snapshot

    if ref is not None and Path(ref).is_dir():
        return load_snapshot(Path(ref))
    with ctx.engine.connect() as conn:
        row = store_io.latest_snapshot(conn) if ref is None else store_io.get_snapshot(conn, ref)
    if row is None:
        raise NotFound("no graph snapshot yet: run `pairloop graph snapshot` first" if ref is None
                       else f"no snapshot version or folder {ref!r}")
    return load_snapshot(Path(row.path))


class SnapshotRef(BaseModel):
    version: str
    checksum: str


class EdgeChange(BaseModel):
    a: str
    b: str
    relation: str
    weight: float


class EdgeReweighted(BaseModel):
    a: str
    b: str
    relation: str
    old_weight: float
    new_weight: float


class SnapshotDiff(BaseModel):
    """What changed from one snapshot to another."""

    old: SnapshotRef
    new: SnapshotRef
    identical: bool = Field(description="Same checksum: the same content.")
    nodes_added: list[str]
    nodes_removed: list[str]
    edges_added: list[EdgeChange]
    edges_removed: list[EdgeChange]
    edges_reweighted: list[EdgeReweighted]


def diff(ctx: Context, old: str, new: str) -> SnapshotDiff:
    """Entities and edges added, removed, reweighted between two snapshots (versions or folders)."""
    from knowledge_graph.snapshots import diff_snapshots

    return SnapshotDiff(**diff_snapshots(open_snapshot(ctx, old), open_snapshot(ctx, new)))

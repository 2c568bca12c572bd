"""Immutable, versioned graph snapshots: Parquet + JSONL + GraphML, and a manifest of checksums.

A snapshot folder holds ``nodes``, ``edges`` and ``item_entities`` as Parquet and as JSONL,
``graph.graphml``, and ``manifest.json``. The data files contain no time and no version,
so the same labels always give byte-identical files and the same ``checksum`` (the sha256
of the files' sha256s); the version, its parent and the creation time live only in the
manifest. A folder is written beside its target and renamed into place, so a crash never
leaves half a snapshot, and an existing folder is never written into. Loading checks
every file against the manifest; a folder that fails is :class:`SnapshotCorrupted`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knowledge_graph.graph import SOURCES, Edge, EntityGraph, Node
from store.errors import BadInput, Conflict
from store.locks import file_lock

# pyarrow loads when a snapshot is written or read, not to verify one (``pairloop check``).
if TYPE_CHECKING:
    import pyarrow as pa

FORMAT = "pairloop-kg-snapshot/1"
MANIFEST = "manifest.json"
DATA_FILES = ("nodes.parquet", "edges.parquet", "item_entities.parquet",
              "nodes.jsonl", "edges.jsonl", "item_entities.jsonl", "graph.graphml")
# A snapshot is written to ``.<folder>.partial-<hex>`` beside its folder, then renamed to it.
PARTIAL = ".partial-"
STAGED = re.compile(rf"\..+{re.escape(PARTIAL)}[0-9a-f]+")
LOCK_FILE = ".pairloop-snapshots.lock"  # held by the one process writing snapshots into a folder


@cache
def arrow_schemas() -> dict[str, pa.Schema]:
    """The Parquet files' Arrow schemas (``NODE_SCHEMA``, ``EDGE_SCHEMA``, ``ITEM_SCHEMA``), built on first use."""
    import pyarrow as pa

    return {
        "NODE_SCHEMA": pa.schema([("entity", pa.string()), ("n_items", pa.int64()),
                                  ("methods", pa.list_(pa.string()))]),
        "EDGE_SCHEMA": pa.schema([
            ("a", pa.string()), ("b", pa.string()), ("relation", pa.string()),
            ("weight", pa.float64()), ("confidence", pa.float64()),
            ("n_item_pairs", pa.int64()), ("n_entity_labels", pa.int64()), ("verified", pa.bool_()),
            *((f"n_{source}", pa.int64()) for source in SOURCES),  # the Edge tuple's field order
            ("rounds", pa.list_(pa.int64())), ("evidence", pa.list_(pa.string())),
        ]),
        "ITEM_SCHEMA": pa.schema([("item", pa.string()), ("entities", pa.list_(pa.string()))]),
    }


class SnapshotExists(BadInput):
    pass


class SnapshotCorrupted(Conflict, BadInput):
    """A folder that fails the snapshot checks (no readable manifest, a file missing or edited):
    never read or served. A :class:`Conflict` (the service answers 409), and a
    :class:`BadInput` naming the file (a folder the user named is not a usable snapshot).

    The message names the snapshot (its version, or its folder's name before the manifest is
    read) and the file, never the folder's full path: the service sends it to its clients."""

    def __init__(self, message: str, snapshot: str, name: str):
        super().__init__(f"snapshot {snapshot}, {name}: {message}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def content_checksum(file_hashes: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{name} {h}\n" for name, h in sorted(file_hashes.items())).encode()).hexdigest()


def _tables(graph: EntityGraph) -> dict[str, pa.Table]:
    import pyarrow as pa

    def table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
        # Tuples convert to an Arrow struct in one pass in C, then split into columns for free.
        return pa.Table.from_struct_array(pa.array(rows, type=pa.struct(list(schema))))

    schemas = arrow_schemas()
    return {"nodes": table(graph.nodes, schemas["NODE_SCHEMA"]), "edges": table(graph.edges, schemas["EDGE_SCHEMA"]),
            "item_entities": table(sorted(graph.item_entities.items()), schemas["ITEM_SCHEMA"])}


def _write_data(graph: EntityGraph, folder: Path) -> None:
    import pyarrow.parquet as pq

    from knowledge_graph.columnar import TextColumns, write_lines
    from knowledge_graph.graphml import write_graphml

    texts = {name: TextColumns(table) for name, table in _tables(graph).items()}
    for name, text in texts.items():
        pq.write_table(text.table, folder / f"{name}.parquet", compression="zstd")
        write_lines(folder / f"{name}.jsonl", text.json_lines)
    write_graphml(folder / "graph.graphml", texts["nodes"], texts["edges"])


@dataclass
class Manifest:
    data: dict[str, Any]

    @property
    def version(self) -> str:
        return self.data["version"]

    @property
    def checksum(self) -> str:
        return self.data["checksum"]


def write_snapshot(graph: EntityGraph, out: Path, **manifest: Any) -> Manifest:
    """Write ``graph`` to the new folder ``out`` in one step (``manifest``: the keyword arguments
    of :func:`stage_snapshot`); refuse an existing folder or an empty graph."""
    staged, written = stage_snapshot(graph, out, **manifest)
    try:
        publish(staged, out)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return written


def stage_snapshot(
    graph: EntityGraph,
    out: Path,
    *,
    version: str,
    parent_version: str | None,
    created_at: str,
    verified_only: bool = True,
) -> tuple[Path, Manifest]:
    """Write ``graph`` as a snapshot to a hidden folder beside ``out`` (removed if writing fails):
    the folder and its manifest, for :func:`publish` to move to ``out``."""
    if out.exists():
        raise SnapshotExists("the snapshot folder exists; snapshots are immutable, choose a new folder", out)
    if verified_only:
        graph = graph.only_verified()
    if not graph.edges:
        raise BadInput("the graph is empty (no edges): import or verify labels and run `pairloop graph "
                       "entities` first")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}{PARTIAL}{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    try:
        _write_data(graph, partial)
        files = {name: sha256_of(partial / name) for name in DATA_FILES}
        manifest = {
            "format": FORMAT,
            "version": version,
            "parent_version": parent_version,
            "created_at": created_at,
            "label_set_hash": graph.label_set_hash,
            "verified_only": verified_only,
            "counts": graph.counts(),
            "files": {name: {"sha256": h, "bytes": (partial / name).stat().st_size} for name, h in files.items()},
            "checksum": content_checksum(files),
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        for path in partial.iterdir():
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return partial, Manifest(manifest)


def publish(staged: Path, out: Path) -> None:
    """Move a staged snapshot to ``out`` in one step (fails if someone created ``out`` meanwhile
    and put files in it)."""
    os.rename(staged, out)


@contextmanager
def writing_snapshots(folder: Path) -> Iterator[None]:
    """Be the only writer of snapshots into ``folder`` for the block (a lock file in it, held
    until the writer ends, however it ends), and remove what dead writers left: every staging
    folder there, since no other writer is alive now."""
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / LOCK_FILE):
        for path in folder.iterdir():
            if path.is_dir() and STAGED.fullmatch(path.name):
                shutil.rmtree(path, ignore_errors=True)
        yield


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST
    if not path.is_file():
        raise SnapshotCorrupted("not a graph snapshot (no manifest.json)", folder.name, MANIFEST)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SnapshotCorrupted(f"unreadable manifest: {exc}", folder.name, MANIFEST) from None
    if data.get("format") != FORMAT or not isinstance(data.get("files"), dict):
        raise SnapshotCorrupted(f"not a {FORMAT} manifest", folder.name, MANIFEST)
    return Manifest(data)


def verify(folder: Path) -> Manifest:
    """The manifest, after checking every data file against its sha256 (:class:`SnapshotCorrupted`
    on a mismatch)."""
    manifest = read_manifest(folder)
    files = manifest.data["files"]
    snapshot = str(manifest.data.get("version") or folder.name)
    for name in DATA_FILES:
        path = folder / name
        if name not in files or not path.is_file():
            raise SnapshotCorrupted("file missing from the snapshot", snapshot, name)
        if sha256_of(path) != files[name]["sha256"]:
            raise SnapshotCorrupted("checksum mismatch: the file differs from the snapshot's manifest "
                                    "(corrupted or edited)", snapshot, name)
    if content_checksum({n: files[n]["sha256"] for n in DATA_FILES}) != manifest.checksum:
        raise SnapshotCorrupted("checksum mismatch: the manifest's checksum does not match its files",
                                snapshot, MANIFEST)
    return manifest


@dataclass
class LoadedSnapshot:
    folder: Path
    manifest: Manifest
    graph: EntityGraph


def _columns(path: Path) -> dict[str, list]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return {name: table.column(name).to_pylist() for name in table.column_names}


def _edges(path: Path) -> list[Edge]:
    c = _columns(path)
    c["rounds"] = [tuple(r) for r in c["rounds"]]
    c["evidence"] = [tuple(e) for e in c["evidence"]]
    return list(map(Edge._make, zip(*(c[name] for name in Edge._fields), strict=True)))


def load_snapshot(folder: Path) -> LoadedSnapshot:
    """Verify and read a snapshot back into an :class:`EntityGraph`."""
    manifest = verify(folder)
    n = _columns(folder / "nodes.parquet")
    nodes = [Node(entity, count, tuple(methods))
             for entity, count, methods in zip(n["entity"], n["n_items"], n["methods"], strict=True)]
    edges = _edges(folder / "edges.parquet")
    i = _columns(folder / "item_entities.parquet")
    item_entities = {item: tuple(entities) for item, entities in zip(i["item"], i["entities"], strict=True)}
    members: dict[str, list[str]] = {}
    for item, entities in item_entities.items():
        for entity in entities:
            members.setdefault(entity, []).append(item)
    graph = EntityGraph(nodes, edges, members, item_entities, manifest.data["label_set_hash"])
    return LoadedSnapshot(folder, manifest, graph)


def diff_snapshots(old: LoadedSnapshot, new: LoadedSnapshot) -> dict[str, Any]:
    """What changed from ``old`` to ``new``: nodes and edges added, removed, reweighted."""
    old_nodes = {n.entity for n in old.graph.nodes}
    new_nodes = {n.entity for n in new.graph.nodes}
    old_edges = {e.key: e for e in old.graph.edges}
    new_edges = {e.key: e for e in new.graph.edges}
    changed = sorted(
        (key for key in old_edges.keys() & new_edges.keys()
         if (old_edges[key].weight, old_edges[key].confidence) != (new_edges[key].weight, new_edges[key].confidence)),
    )

    def edge_list(keys, table):
        return [{"a": a, "b": b, "relation": r, "weight": table[a, b, r].weight} for a, b, r in sorted(keys)]

    return {
        "old": {"version": old.manifest.version, "checksum": old.manifest.checksum},
        "new": {"version": new.manifest.version, "checksum": new.manifest.checksum},
        "identical": old.manifest.checksum == new.manifest.checksum,
        "nodes_added": sorted(new_nodes - old_nodes),
        "nodes_removed": sorted(old_nodes - new_nodes),
        "edges_added": edge_list(new_edges.keys() - old_edges.keys(), new_edges),
        "edges_removed": edge_list(old_edges.keys() - new_edges.keys(), old_edges),
        "edges_reweighted": [
            {"a": a, "b": b, "relation": r, "old_weight": old_edges[a, b, r].weight,
             "new_weight": new_edges[a, b, r].weight}
            for a, b, r in changed
        ],
    }

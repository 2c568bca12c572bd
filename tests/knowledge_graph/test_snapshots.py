"""Snapshots: deterministic bytes, immutable folders, checksums checked on load, diff, GraphML."""

from __future__ import annotations

import json
import os

import networkx as nx
import pyarrow.parquet as pq
import pytest

from knowledge_graph.entities import build_dictionary, extract
from knowledge_graph.graph import COMPLEMENTARY, SUBSTITUTE, build_graph
from knowledge_graph.records import Evidence
from knowledge_graph.snapshots import DATA_FILES, diff_snapshots, load_snapshot, write_snapshot
from store.errors import BadInput, Conflict

EVIDENCE = [
    Evidence("s:1", "s:4", COMPLEMENTARY, rounds=(1,)),
    Evidence("s:7", "s:5", COMPLEMENTARY),
    Evidence("s:2", "s:3", SUBSTITUTE, source="import"),
    Evidence("s:11", "s:12", COMPLEMENTARY, source="llm", verified=False),
]


@pytest.fixture
def graph(gadgets):
    return build_graph(extract(gadgets, build_dictionary(gadgets)), EVIDENCE, include_unverified=True)[0]


def write(graph, folder, version="v0001", created="2026-01-01T00:00:00+00:00", **kw):
    return write_snapshot(graph, folder, version=version, parent_version=None, created_at=created, **kw)


def test_same_labels_give_identical_files_and_checksum(graph, gadgets, tmp_path):
    first = write(graph, tmp_path / "a")
    # Rebuilt from the evidence in another order, written later under another version.
    again = build_graph(extract(gadgets, build_dictionary(gadgets)), EVIDENCE[::-1], include_unverified=True)[0]
    second = write(again, tmp_path / "b", version="v0002", created="2027-06-30T12:00:00+00:00")
    assert first.checksum == second.checksum
    for name in DATA_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["version"] == "v0002" and manifest["created_at"].startswith("2027")
    assert set(manifest["files"]) == set(DATA_FILES)


def test_verified_edges_only_unless_asked(graph, tmp_path):
    write(graph, tmp_path / "v")
    write(graph, tmp_path / "all", verified_only=False)
    verified, everything = load_snapshot(tmp_path / "v").graph, load_snapshot(tmp_path / "all").graph
    assert verified.edges and all(e.verified for e in verified.edges)
    unverified = [e.key for e in everything.edges if not e.verified]
    assert unverified == [("case (bags)", "case (cases & sleeves)", COMPLEMENTARY)]
    assert json.loads((tmp_path / "all" / "manifest.json").read_text())["verified_only"] is False


def test_round_trip_keeps_edges_provenance_and_item_entities(graph, tmp_path):
    write(graph, tmp_path / "s")
    loaded = load_snapshot(tmp_path / "s").graph
    assert loaded.edges == graph.only_verified().edges
    assert loaded.item_entities == graph.item_entities and loaded.nodes == graph.nodes
    assert loaded.label_set_hash == graph.label_set_hash


def test_an_existing_folder_is_never_written_into(graph, tmp_path):
    write(graph, tmp_path / "s")
    before = {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir()}
    with pytest.raises(BadInput, match="immutable"):
        write(graph, tmp_path / "s", version="v0002")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="immutable"):
        write(graph, tmp_path / "empty")
    assert {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir()} == before
    assert not os.access(tmp_path / "s" / "edges.parquet", os.W_OK) or os.geteuid() == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial folders left


def test_an_empty_graph_is_refused(graph, tmp_path):
    graph.edges = []
    with pytest.raises(BadInput, match="empty"):
        write(graph, tmp_path / "s")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("name", ["edges.parquet", "nodes.jsonl", "graph.graphml"])
def test_a_corrupted_file_fails_its_checksum_on_load(graph, tmp_path, name):
    write(graph, tmp_path / "s")
    path = tmp_path / "s" / name
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BadInput, match="checksum mismatch") as err:
        load_snapshot(tmp_path / "s")
    assert name in str(err.value)
    assert isinstance(err.value, Conflict)  # the service answers 409: the registered snapshot is unusable


def test_graphml_reads_back_in_networkx(graph, tmp_path):
    write(graph, tmp_path / "s", verified_only=False)
    read = nx.read_graphml(tmp_path / "s" / "graph.graphml")
    assert read.number_of_nodes() == len(graph.nodes)
    assert read.number_of_edges() == len(graph.edges)
    relations = {d["relation"] for _a, _b, d in read.edges(data=True)}
    assert relations == {COMPLEMENTARY, SUBSTITUTE}


def test_diff_names_added_and_removed_edges(graph, gadgets, tmp_path):
    write(graph, tmp_path / "old")
    more = EVIDENCE + [Evidence("s:11", "s:4", COMPLEMENTARY), Evidence("s:9", "s:6", COMPLEMENTARY)]
    newer = build_graph(extract(gadgets, build_dictionary(gadgets)), more)[0]
    write(newer, tmp_path / "new", version="v0002")
    result = diff_snapshots(load_snapshot(tmp_path / "old"), load_snapshot(tmp_path / "new"))
    assert not result["identical"]
    assert {(e["a"], e["b"]) for e in result["edges_added"]} >= {("case (cases & sleeves)", "digital slr camera")}
    assert {(e["a"], e["b"]) for e in result["edges_reweighted"]} >= {("digital slr camera", "memory card")}
    assert result["edges_removed"] == []
    same = diff_snapshots(load_snapshot(tmp_path / "old"), load_snapshot(tmp_path / "old"))
    assert same["identical"] and same["edges_added"] == same["edges_reweighted"] == []


def test_jsonl_and_graphml_escape_any_entity_name(gadgets, tmp_path):
    odd = ['say "cheese" & <smile>', "ünïcode\ttab\\slash"]
    evidence = EVIDENCE + [Evidence(odd[0], odd[1], COMPLEMENTARY, kind="entity", rounds=(7, 9))]
    graph = build_graph(extract(gadgets, build_dictionary(gadgets)), evidence)[0]
    write(graph, tmp_path / "s")
    for name in ("nodes", "edges", "item_entities"):
        lines = (tmp_path / "s" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == pq.read_table(tmp_path / "s" / f"{name}.parquet").to_pylist()
    read = nx.read_graphml(tmp_path / "s" / "graph.graphml")
    assert read.has_edge(*odd) and read.edges[odd[0], odd[1]]["weight"] == 1.0
    assert read.nodes[odd[0]]["n_items"] == 0


def test_tables_follow_the_tuples_field_order():
    from knowledge_graph.graph import Edge, Node
    from knowledge_graph.snapshots import arrow_schemas

    EDGE_SCHEMA, NODE_SCHEMA = arrow_schemas()["EDGE_SCHEMA"], arrow_schemas()["NODE_SCHEMA"]

    assert EDGE_SCHEMA.names == list(Edge._fields) and NODE_SCHEMA.names == list(Node._fields)

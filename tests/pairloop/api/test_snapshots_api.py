"""Consumers fetch verified graph snapshots from the service; a corrupted file is never served."""

from __future__ import annotations

import hashlib
import os

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from knowledge_graph.entities import build_dictionary, extract
from knowledge_graph.graph import COMPLEMENTARY, build_graph
from knowledge_graph.records import CatalogueItem, Evidence
from knowledge_graph.snapshots import DATA_FILES, write_snapshot
from knowledge_graph.store_io import register_snapshot
from store.db import make_engine

CATALOGUE = [
    CatalogueItem("s:1", "Battery Charger for Nikon D7000", "Electronics > Camera > Chargers"),
    CatalogueItem("s:2", "Pearstone Battery Charger", "Electronics > Camera > Chargers"),
    CatalogueItem("s:3", "Nikon D3200 Digital SLR Camera", "Electronics > Camera > Digital Cameras"),
    CatalogueItem("s:4", "Canon EOS Rebel Digital SLR Camera", "Electronics > Camera > Digital Cameras"),
]


@pytest.fixture
def snapshot(db_url, tmp_path):
    graph = build_graph(extract(CATALOGUE, build_dictionary(CATALOGUE)),
                        [Evidence("s:1", "s:3", COMPLEMENTARY, rounds=(1,))])[0]
    folder = tmp_path / "snapshots" / "v0001"
    manifest = write_snapshot(graph, folder, version="v0001", parent_version=None,
                              created_at="2026-11-28T00:00:00+00:00")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        register_snapshot(conn, manifest, str(folder))
    engine.dispose()
    return folder, manifest


def test_snapshots_are_listed_and_served_with_their_checksums(api, snapshot):
    _folder, manifest = snapshot
    (listed,) = api.get("/snapshots").json()
    assert (listed["version"], listed["checksum"]) == ("v0001", manifest.checksum)
    assert "path" not in listed  # where the server keeps files is its own business
    assert api.get("/snapshots/v0001").json() == manifest.data
    for name in DATA_FILES:
        served = api.get(f"/snapshots/v0001/files/{name}")
        assert served.status_code == 200
        assert hashlib.sha256(served.content).hexdigest() == manifest.data["files"][name]["sha256"]
    assert api.get("/snapshots/v0002").status_code == 404
    assert api.get("/snapshots/v0001/files/secrets.txt").status_code == 404
    assert httpx.get(api.base_url.join("/snapshots")).status_code == 401


def test_a_corrupted_snapshot_is_refused_not_served(api, snapshot):
    folder, _manifest = snapshot
    edges = folder / "edges.parquet"
    os.chmod(edges, 0o644)
    pq.write_table(pa.table({"tampered": [1]}), edges)
    refused = api.get("/snapshots/v0001/files/nodes.parquet")
    assert refused.status_code == 409 and "checksum mismatch" in refused.json()["detail"]
    assert api.get("/snapshots/v0001").status_code == 409


def test_a_corrupted_snapshot_is_named_without_the_servers_folder(api, snapshot):
    """The 409 names the version and the file; where the server keeps them stays its business."""
    folder, _manifest = snapshot
    (folder / "graph.graphml").chmod(0o644)
    (folder / "graph.graphml").unlink()
    detail = api.get("/snapshots/v0001").json()["detail"]
    assert detail == "snapshot v0001, graph.graphml: file missing from the snapshot"
    (folder / "manifest.json").chmod(0o644)
    (folder / "manifest.json").write_text("{not json")
    detail = api.get("/snapshots/v0001/files/nodes.jsonl").json()["detail"]
    assert detail.startswith("snapshot v0001, manifest.json: unreadable manifest")
    assert str(folder.parent) not in detail and str(folder.parent) not in api.get("/snapshots/v0001").text


def test_every_snapshot_endpoint_declares_its_response(api):
    paths = {path: ops for path, ops in api.get("/openapi.json").json()["paths"].items()
             if path.startswith("/snapshots")}
    assert len(paths) == 3
    for ops in paths.values():
        assert ops["get"]["responses"]["200"]["content"], ops
    listed = paths["/snapshots"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed["items"]["$ref"].endswith("/SnapshotInfo")

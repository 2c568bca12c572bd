"""Graph snapshots for consumers: the registered versions, a manifest, and its files (verified)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from knowledge_graph.snapshots import DATA_FILES, MANIFEST, verify
from knowledge_graph.store_io import get_snapshot, list_snapshots
from pairloop.api.dependencies import EngineDep, require_api_token
from store.errors import BadInput

router = APIRouter(prefix="/snapshots", tags=["snapshots"], dependencies=[Depends(require_api_token)])


@router.get("")
async def snapshots(engine: EngineDep) -> list[dict[str, Any]]:
    """Registered snapshots, newest first (version, parent, counts, checksum, label-set hash)."""

    def read() -> list[dict[str, Any]]:
        with engine.connect() as conn:
            return [{k: v for k, v in s.items() if k != "path"} for s in list_snapshots(conn)]

    return await run_in_threadpool(read)


def _verified_folder(engine, version: str) -> tuple[Path, dict[str, Any]]:
    """The snapshot's folder and manifest, every file checked against its sha256 first."""
    with engine.connect() as conn:
        row = get_snapshot(conn, version)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no snapshot {version!r}")
    folder = Path(row.path)
    try:
        manifest = verify(folder)
    except BadInput as exc:  # a corrupted or missing file is never served
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return folder, manifest.data


@router.get("/{version}")
async def snapshot_manifest(version: str, engine: EngineDep) -> dict[str, Any]:
    """The snapshot's manifest.json (counts, sha256 of every file, label-set hash, parent)."""
    return (await run_in_threadpool(_verified_folder, engine, version))[1]


@router.get("/{version}/files/{name}", response_class=FileResponse)
async def snapshot_file(version: str, name: str, engine: EngineDep) -> FileResponse:
    """One of the snapshot's files (nodes and edges as Parquet and JSONL, GraphML, the manifest)."""
    if name not in (*DATA_FILES, MANIFEST):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {name!r}; files: {', '.join((*DATA_FILES, MANIFEST))}")
    folder, _manifest = await run_in_threadpool(_verified_folder, engine, version)
    return FileResponse(folder / name, filename=f"{version}-{name}")

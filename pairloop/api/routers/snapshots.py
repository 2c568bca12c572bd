"""Graph snapshots for consumers: the registered versions, a manifest, and its files (verified)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from pairloop.api.dependencies import ContextDep, GuardedRoute, require_api_token
from pairloop.api.errors import responses
from pairloop.usecases import graph as kg

router = APIRouter(prefix="/snapshots", tags=["snapshots"], dependencies=[Depends(require_api_token)],
                   route_class=GuardedRoute, responses=responses(401, 503))
FILE_CONTENT = {200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                      "description": "The file's bytes, as written."}}
# A registered version is a primary key of 64 characters at most; no control character can be one.
Version = Annotated[str, Path(max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$", description="The snapshot's version.")]


@router.get("", response_model=list[kg.SnapshotInfo])
async def snapshots(ctx: ContextDep) -> list[kg.RegisteredSnapshot]:
    """Registered snapshots, newest first (version, parent, counts, checksum, label-set hash).

    Where the server keeps their folders is its own business: the response model leaves it out."""
    return await run_in_threadpool(kg.list_snapshots, ctx)


@router.get("/{version}", responses=responses(404, 409, 422))
async def snapshot_manifest(version: Version, ctx: ContextDep) -> kg.SnapshotManifest:
    """The snapshot's manifest.json (counts, sha256 of every file, label-set hash, parent);
    409 when a file no longer matches it."""
    return await run_in_threadpool(kg.snapshot_manifest, ctx, version)


@router.get("/{version}/files/{name}", response_class=FileResponse,
            responses={**FILE_CONTENT, **responses(404, 409, 422)})
async def snapshot_file(version: Version, name: str, ctx: ContextDep) -> FileResponse:
    """One of the snapshot's files (nodes and edges as Parquet and JSONL, GraphML, the manifest),
    served only when every file matches the manifest (409 otherwise)."""
    path = await run_in_threadpool(kg.snapshot_file, ctx, version, name)
    return FileResponse(path, filename=f"{version}-{name}")

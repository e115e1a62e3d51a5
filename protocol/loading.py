"""What a worker says while it loads its model, before it can serve: a notice in the discovery
backend's key-value store that frontends read. The notice lives only while the worker keeps it
fresh (an etcd lease, or a file's `updated_at`), so a worker that dies stops appearing."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

# A notice not refreshed for this long is gone (etcd: the lease's TTL).
LOADING_TTL_S = 10
REFRESH_S = 2.0


class LoadingNotice(BaseModel):
    id: str  # one per worker process
    model: str
    backend: str | None = None
    stage: str
    # Where the backend reports how far it is.
    percent: float | None = None
    started_at: float
    updated_at: float
    host: str
    pid: int


def etcd_loading_prefix(namespace: str) -> str:
    return f"/framecast/{namespace}/loading/"


def file_loading_dir(file_kv_dir: str | Path, namespace: str) -> Path:
    """Where file discovery keeps the notices: beside the runtime's own entries."""
    return Path(file_kv_dir) / "framecast" / namespace / "loading"

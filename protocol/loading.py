"""What a worker says of itself in the discovery backend's key-value store, for frontends to
read: while it loads its model, a loading notice; once it serves, the LoRA adapters it holds
loaded. A notice lives only while the worker keeps it fresh (an etcd lease, or a file's
`updated_at`), so a worker that dies stops appearing."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class NoticePlace:
    """Where the notices of one kind live: etcd keys under a prefix, or files in a folder
    beside the file discovery backend's own entries."""

    kind: str

    def etcd_prefix(self, namespace: str) -> str:
        return f"/framecast/{namespace}/{self.kind}/"

    def folder(self, file_kv_dir: str | Path, namespace: str) -> Path:
        return Path(file_kv_dir) / "framecast" / namespace / self.kind


LOADING_NOTICES = NoticePlace("loading")
ADAPTER_NOTICES = NoticePlace("adapters")


class AdapterNotice(BaseModel):
    """What one serving worker says of itself to every frontend: the LoRA adapters it holds
    loaded (frontends route adapter jobs by it) and its latest canary (a failing one takes it
    out of routing)."""

    instance_id: str  # the worker's Dynamo instance id, hex
    loaded: list[str]
    updated_at: float
    # The latest canary's failure (None: it passed, or the worker runs none), and when it ran.
    canary_error: str | None = None
    canary_at: float | None = None

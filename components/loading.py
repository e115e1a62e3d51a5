"""The worker's notices in the discovery backend's key-value store (protocol/loading.py): from
start-up until its model is registered, a loading notice, so frontends can show it as
`loading` with its stage; once it serves with adapters, the adapters it holds loaded. With etcd the notice is a key under a lease the worker
refreshes; with file discovery a JSON file beside the runtime's entries, rewritten with its
time. Either way a worker that dies stops appearing within LOADING_TTL_S. Other discovery
backends (mem, kubernetes) get no notice."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from pathlib import Path

from pydantic import BaseModel

from framecast.protocol.loading import ADAPTER_NOTICES, LOADING_NOTICES, LOADING_TTL_S, REFRESH_S, AdapterNotice, LoadingNotice, NoticePlace
from framecast.protocol.routing import etcd_host_port

log = logging.getLogger(__name__)


class _EtcdNotice:
    def __init__(self, endpoints: str, key: str):
        self.host, self.port = etcd_host_port(endpoints)
        self.key = key.encode()
        self.client = None
        self.lease = None

    async def write(self, notice: BaseModel) -> None:
        import aetcd

        if self.client is None:
            self.client = aetcd.Client(host=self.host, port=self.port)
            await self.client.connect()
        if self.lease is None or (await self.lease.refresh()).TTL <= 0:
            self.lease = await self.client.lease(LOADING_TTL_S)
        await self.client.put(self.key, notice.model_dump_json().encode(), lease=self.lease)

    async def remove(self) -> None:
        if self.client is None:
            return
        with contextlib.suppress(Exception):  # the lease ends with its TTL anyway
            await self.client.delete(self.key)
            if self.lease is not None:
                await self.lease.revoke()
        await self.client.close()


class _FileNotice:
    def __init__(self, path: Path):
        self.path = path

    async def write(self, notice: BaseModel) -> None:
        def write() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial")
            partial.write_text(notice.model_dump_json())
            partial.replace(self.path)

        await asyncio.to_thread(write)

    async def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _notice_store(place: NoticePlace, name: str, discovery: str, namespace: str, etcd_endpoints: str | None, file_kv_dir: str | None):
    """Where one notice lives, or None where the discovery backend keeps none."""
    if discovery == "etcd":
        return _EtcdNotice(etcd_endpoints or "http://127.0.0.1:2379", place.etcd_prefix(namespace) + name)
    if discovery == "file" and file_kv_dir:
        return _FileNotice(place.folder(file_kv_dir, namespace) / f"{name}.json")
    return None


class _Announcer:
    """A notice kept fresh: written at start and on every change, rewritten every REFRESH_S
    (so it dies with its worker), removed at finish."""

    notice: BaseModel
    what = "notice"

    def __init__(self, store) -> None:
        self._store = store
        self._refresher: asyncio.Task | None = None

    async def start(self) -> None:
        if self._store is not None:
            await self._write()
            self._refresher = asyncio.ensure_future(self._refresh())

    async def _change(self, **fields) -> None:
        self.notice = self.notice.model_copy(update=fields)
        if self._store is not None:
            await self._write()

    async def finish(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        if self._store is not None:
            await self._store.remove()
            self._store = None

    async def _write(self) -> None:
        self.notice.updated_at = time.time()
        try:
            await self._store.write(self.notice)
        except Exception as error:  # notices inform; the worker goes on without one
            log.warning("could not write the %s: %s", self.what, error)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            await self._write()


class AdapterAnnouncer(_Announcer):
    """A serving worker's adapters and canary: rewritten when the adapters it holds loaded or
    its canary's outcome change. Frontends route by it, besides what the worker's answers to
    them say."""

    what = "adapter notice"

    def __init__(self, discovery: str, namespace: str, instance_id: str, etcd_endpoints: str | None, file_kv_dir: str | None):
        self.notice = AdapterNotice(instance_id=instance_id, loaded=[], updated_at=time.time())
        super().__init__(_notice_store(ADAPTER_NOTICES, instance_id, discovery, namespace, etcd_endpoints, file_kv_dir))

    async def publish(self, loaded: list[str]) -> None:
        if loaded != self.notice.loaded:
            await self._change(loaded=list(loaded))

    async def publish_canary(self, error: str | None, at: float | None) -> None:
        await self._change(canary_error=error, canary_at=at)


class LoadingAnnouncer(_Announcer):
    """From start-up until the model is registered (finish)."""

    what = "loading notice"

    def __init__(self, discovery: str, namespace: str, model: str, etcd_endpoints: str | None, file_kv_dir: str | None):
        now = time.time()
        self.notice = LoadingNotice(
            id=uuid.uuid4().hex, model=model, stage="starting", started_at=now, updated_at=now,
            host=socket.gethostname(), pid=os.getpid(),
        )  # fmt: skip
        super().__init__(_notice_store(LOADING_NOTICES, self.notice.id, discovery, namespace, etcd_endpoints, file_kv_dir))

    async def stage(self, stage: str, backend: str | None = None, percent: float | None = None) -> None:
        await self._change(stage=stage, backend=backend or self.notice.backend, percent=percent)

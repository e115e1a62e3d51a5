"""The worker's loading notice: from start-up until its model is registered, the worker keeps
a notice (protocol/loading.py) in the discovery backend's key-value store, so frontends can
show it as `loading` with its stage. With etcd the notice is a key under a lease the worker
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

from framecast.protocol.loading import LOADING_TTL_S, REFRESH_S, LoadingNotice, etcd_loading_prefix, file_loading_dir
from framecast.protocol.routing import etcd_host_port

log = logging.getLogger(__name__)


class _EtcdNotice:
    def __init__(self, endpoints: str, key: str):
        self.host, self.port = etcd_host_port(endpoints)
        self.key = key.encode()
        self.client = None
        self.lease = None

    async def write(self, notice: LoadingNotice) -> None:
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

    async def write(self, notice: LoadingNotice) -> None:
        def write() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial")
            partial.write_text(notice.model_dump_json())
            partial.replace(self.path)

        await asyncio.to_thread(write)

    async def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class LoadingAnnouncer:
    def __init__(self, discovery: str, namespace: str, model: str, etcd_endpoints: str | None, file_kv_dir: str | None):
        now = time.time()
        self.notice = LoadingNotice(
            id=uuid.uuid4().hex, model=model, stage="starting", started_at=now, updated_at=now,
            host=socket.gethostname(), pid=os.getpid(),
        )  # fmt: skip
        if discovery == "etcd":
            key = etcd_loading_prefix(namespace) + self.notice.id
            self._store = _EtcdNotice(etcd_endpoints or "http://127.0.0.1:2379", key)
        elif discovery == "file" and file_kv_dir:
            self._store = _FileNotice(file_loading_dir(file_kv_dir, namespace) / f"{self.notice.id}.json")
        else:
            self._store = None
        self._refresher: asyncio.Task | None = None

    async def start(self) -> None:
        if self._store is None:
            return
        await self._write()
        self._refresher = asyncio.ensure_future(self._refresh())

    async def stage(self, stage: str, backend: str | None = None, percent: float | None = None) -> None:
        self.notice = self.notice.model_copy(update={"stage": stage, "backend": backend or self.notice.backend, "percent": percent})
        if self._store is not None:
            await self._write()

    async def finish(self) -> None:
        """The worker is registered (or stopping): the notice goes."""
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
        except Exception as error:  # a notice is for people; loading goes on without it
            log.warning("could not write the loading notice: %s", error)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            await self._write()

"""What workers say of themselves in the discovery backend's key-value store (components/
loading.py writes the notices; protocol/loading.py says where): etcd keys under a lease, or
files under the file backend's folder, stale ones skipped. The loading board lists workers
still loading their model; the adapter board, the LoRA adapters each serving worker holds."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from pydantic import BaseModel, ValidationError

from framecast.protocol.loading import ADAPTER_NOTICES, LOADING_NOTICES, LOADING_TTL_S, AdapterNotice, LoadingNotice, NoticePlace
from framecast.protocol.routing import etcd_host_port

log = logging.getLogger(__name__)


class _NoticeBoard:
    """Notices of one kind, read fresh on each call; none where the backend keeps none."""

    kind: type[BaseModel]
    place: NoticePlace

    def __init__(self, discovery: str, namespace: str, etcd_endpoints: str | None, file_kv_dir: str | None):
        self.discovery, self.namespace = discovery, namespace
        self.etcd_endpoints, self.file_kv_dir = etcd_endpoints, file_kv_dir
        self._client = None

    async def _read(self) -> list:
        try:
            if self.discovery == "etcd":
                return await self._from_etcd()
            if self.discovery == "file" and self.file_kv_dir:
                return await asyncio.to_thread(self._from_files, self.place.folder(self.file_kv_dir, self.namespace))
        except Exception as error:  # notices inform: an unreachable store shows none
            log.warning("could not read %s notices: %s", self.kind.__name__, error)
        return []

    def _parse(self, raw: bytes | str):
        try:
            return self.kind.model_validate_json(raw)
        except ValidationError:
            return None

    async def _from_etcd(self) -> list:
        import aetcd

        if self._client is None:
            host, port = etcd_host_port(self.etcd_endpoints or "http://127.0.0.1:2379")
            self._client = aetcd.Client(host=host, port=port)
            await self._client.connect()
        items = await self._client.get_prefix(self.place.etcd_prefix(self.namespace).encode())
        return [notice for item in items if (notice := self._parse(item.value)) is not None]

    def _from_files(self, folder: Path) -> list:
        fresh_after = time.time() - LOADING_TTL_S
        found = []
        for path in folder.glob("*.json"):
            try:
                notice = self._parse(path.read_text())
            except OSError:  # removed as it was read
                continue
            if notice is not None and notice.updated_at >= fresh_after:
                found.append(notice)
        return found

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


class LoadingBoard(_NoticeBoard):
    kind, place = LoadingNotice, LOADING_NOTICES

    async def notices(self) -> list[LoadingNotice]:
        """The workers loading now, oldest first."""
        return sorted(await self._read(), key=lambda notice: notice.started_at)


class AdapterBoard(_NoticeBoard):
    kind, place = AdapterNotice, ADAPTER_NOTICES

    async def by_instance(self) -> dict[int, AdapterNotice]:
        """Instance id -> its worker's notice (adapters held loaded, latest canary)."""
        found = {}
        for notice in await self._read():
            try:
                found[int(notice.instance_id, 16)] = notice
            except ValueError:
                continue
        return found

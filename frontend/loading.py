"""Workers still loading their model, read from the discovery backend's key-value store where
each keeps a notice (components/loading.py writes them; protocol/loading.py says where): etcd
keys under a lease, or files under the file backend's folder, stale ones skipped."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from pydantic import ValidationError

from framecast.protocol.loading import LOADING_TTL_S, LoadingNotice, etcd_loading_prefix, file_loading_dir
from framecast.protocol.routing import etcd_host_port

log = logging.getLogger(__name__)


def _parse(raw: bytes | str) -> LoadingNotice | None:
    try:
        return LoadingNotice.model_validate_json(raw)
    except ValidationError:
        return None


class LoadingBoard:
    def __init__(self, discovery: str, namespace: str, etcd_endpoints: str | None, file_kv_dir: str | None):
        self.discovery, self.namespace = discovery, namespace
        self.etcd_endpoints, self.file_kv_dir = etcd_endpoints, file_kv_dir
        self._client = None

    async def notices(self) -> list[LoadingNotice]:
        """The workers loading now, oldest first; none where the backend keeps no notices."""
        try:
            if self.discovery == "etcd":
                found = await self._from_etcd()
            elif self.discovery == "file" and self.file_kv_dir:
                found = await asyncio.to_thread(self._from_files, file_loading_dir(self.file_kv_dir, self.namespace))
            else:
                found = []
        except Exception as error:  # the list is for people: an unreachable store shows none
            log.warning("could not read loading notices: %s", error)
            found = []
        return sorted(found, key=lambda notice: notice.started_at)

    async def _from_etcd(self) -> list[LoadingNotice]:
        import aetcd

        if self._client is None:
            host, port = etcd_host_port(self.etcd_endpoints or "http://127.0.0.1:2379")
            self._client = aetcd.Client(host=host, port=port)
            await self._client.connect()
        items = await self._client.get_prefix(etcd_loading_prefix(self.namespace).encode())
        return [notice for item in items if (notice := _parse(item.value)) is not None]

    @staticmethod
    def _from_files(folder: Path) -> list[LoadingNotice]:
        fresh_after = time.time() - LOADING_TTL_S
        found = []
        for path in folder.glob("*.json"):
            try:
                notice = _parse(path.read_text())
            except OSError:  # removed as it was read
                continue
            if notice is not None and notice.updated_at >= fresh_after:
                found.append(notice)
        return found

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

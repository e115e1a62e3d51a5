"""Job store in etcd: shared by frontend replicas on any number of machines.

Records live under `<prefix>/jobs/<id>`, webhook deliveries under `<prefix>/webhooks/<id>`; each replica keeps `<prefix>/replicas/<id>` alive on a
lease, so a replica that dies disappears from there within the lease TTL. Writes of progress
are throttled by the caller (etcd keeps every revision until compaction).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import aetcd

from framecast.frontend.jobs.deliveries import WebhookDelivery, due_on_write
from framecast.frontend.jobs.record import JobRecord
from framecast.frontend.jobs.store import JobChange, JobQuery, Written
from framecast.protocol.routing import etcd_host_port

log = logging.getLogger(__name__)


class EtcdJobStore:
    def __init__(self, endpoints: str, prefix: str, replica_ttl_s: int = 10):
        self.host, self.port = etcd_host_port(endpoints)
        self.prefix = prefix.rstrip("/")
        self.replica_ttl_s = replica_ttl_s
        self._client: aetcd.Client | None = None
        self._lease = None

    def _job_key(self, job_id: str) -> bytes:
        return f"{self.prefix}/jobs/{job_id}".encode()

    def _delivery_key(self, delivery_id: str) -> bytes:
        return f"{self.prefix}/webhooks/{delivery_id}".encode()

    @property
    def _jobs_prefix(self) -> bytes:
        return f"{self.prefix}/jobs/".encode()

    @property
    def _replicas_prefix(self) -> bytes:
        return f"{self.prefix}/replicas/".encode()

    async def start(self) -> None:
        self._client = aetcd.Client(host=self.host, port=self.port)
        await self._client.connect()

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            if self._lease is not None:
                try:
                    await self._lease.revoke()
                except Exception:  # the lease dies with its TTL anyway
                    pass
            await client.close()

    async def create(self, record: JobRecord) -> None:
        await self._client.put(self._job_key(record.id), record.to_json().encode())

    async def get(self, job_id: str) -> JobRecord | None:
        value = await self._client.get(self._job_key(job_id))
        return JobRecord.from_json(value.value) if value else None

    async def put(self, record: JobRecord, *, expect_owner: str | None = None, attempts: int = 5) -> Written:
        key = self._job_key(record.id)
        transactions = self._client.transactions
        for _ in range(attempts):  # another replica may write between our read and our write
            current = await self._client.get(key)
            if current is None:
                return Written.DELETED  # a write must not bring it back
            stored = JobRecord.from_json(current.value)
            if expect_owner is not None and stored.owner != expect_owner:
                return Written.NOT_OWNER
            if stored.terminal and not record.terminal:
                return Written.FINISHED  # a late progress write never reopens a finished job
            # The events the change makes due are written with it, or not at all.
            deliveries = [
                transactions.put(self._delivery_key(delivery.id), delivery.to_json().encode())
                for delivery in due_on_write(stored.status, record)
            ]
            succeeded, _ = await self._client.transaction(
                compare=[transactions.mod(key) == current.mod_revision],
                success=[transactions.put(key, record.to_json().encode()), *deliveries],
                failure=[],
            )
            if succeeded:
                return Written.WRITTEN
        return Written.CONTENTION

    async def delete(self, job_id: str, deliveries: tuple[WebhookDelivery, ...] = ()) -> bool:
        if not deliveries:
            return bool(await self._client.delete(self._job_key(job_id)))
        transactions, key = self._client.transactions, self._job_key(job_id)
        succeeded, _ = await self._client.transaction(
            compare=[transactions.version(key) > 0],
            success=[transactions.delete(key)]
            + [transactions.put(self._delivery_key(delivery.id), delivery.to_json().encode()) for delivery in deliveries],
            failure=[],
        )
        return succeeded

    async def deliveries(self) -> list[WebhookDelivery]:
        items = await self._client.get_prefix(f"{self.prefix}/webhooks/".encode())
        return [WebhookDelivery.from_json(item.value) for item in items]

    async def put_delivery(self, delivery: WebhookDelivery, *, expect_owner: str) -> bool:
        key, transactions = self._delivery_key(delivery.id), self._client.transactions
        current = await self._client.get(key)
        if current is None or WebhookDelivery.from_json(current.value).owner != expect_owner:
            return False
        succeeded, _ = await self._client.transaction(
            compare=[transactions.mod(key) == current.mod_revision],
            success=[transactions.put(key, delivery.to_json().encode())],
            failure=[],
        )
        return succeeded

    async def delete_delivery(self, delivery_id: str) -> None:
        await self._client.delete(self._delivery_key(delivery_id))

    async def all(self) -> list[JobRecord]:
        return [JobRecord.from_json(item.value) for item in await self._client.get_prefix(self._jobs_prefix)]

    async def find(self, query: JobQuery) -> list[JobRecord]:
        items = await self._client.get_prefix(self._jobs_prefix)
        return [JobRecord.from_json(item.value) for item in items if query.matches(json.loads(item.value))]

    async def heartbeat(self, replica_id: str) -> None:
        if self._lease is not None:
            try:
                response = await self._lease.refresh()
                if getattr(response, "TTL", 1) > 0:
                    return
            except Exception as error:  # e.g. etcd restarted: take a new lease
                log.warning("replica lease refresh failed (%s); taking a new one", error)
        self._lease = await self._client.lease(self.replica_ttl_s)
        await self._client.put(f"{self.prefix}/replicas/{replica_id}".encode(), b"alive", lease=self._lease)

    async def live_replicas(self) -> set[str]:
        items = await self._client.get_prefix(self._replicas_prefix, keys_only=True)
        return {item.key.decode().rsplit("/", 1)[-1] for item in items}

    async def changes(self) -> AsyncIterator[JobChange]:
        revision = None
        while True:
            try:
                watch = await self._client.watch_prefix(
                    self._jobs_prefix, start_revision=revision + 1 if revision is not None else None
                )
                async for event in watch:
                    revision = event.kv.mod_revision
                    job_id = event.kv.key.decode().rsplit("/", 1)[-1]
                    deleted = str(event.kind).endswith("DELETE")
                    yield JobChange(job_id, None if deleted else JobRecord.from_json(event.kv.value))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the watch raises when etcd restarts: watch again
                log.warning("etcd watch ended (%s); watching again from revision %s", error, revision)
                await asyncio.sleep(0.5)

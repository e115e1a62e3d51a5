"""Job store in a SQLite file: the default, for frontends on one machine.

WAL mode lets several frontend processes share the file. A change log table, read by polling,
gives every replica the writes of the others.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

from framecast.frontend.jobs.deliveries import WebhookDelivery, due_on_write
from framecast.frontend.jobs.record import JobRecord
from framecast.frontend.jobs.store import JobChange, JobQuery, Written

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, owner TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS replicas (id TEXT PRIMARY KEY, heartbeat_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS webhooks (id TEXT PRIMARY KEY, owner TEXT NOT NULL, data TEXT NOT NULL);
"""
# Change log entries older than this are pruned; a reader that falls further behind re-reads.
_CHANGE_RETENTION_S = 600


class SqliteJobStore:
    def __init__(self, path: str | Path, replica_timeout_s: float = 10.0, poll_interval_s: float = 0.1):
        self.path = Path(path)
        self.replica_timeout_s = replica_timeout_s
        self.poll_interval_s = poll_interval_s
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def connect() -> sqlite3.Connection:
            connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
            return connection

        self._connection = await asyncio.to_thread(connect)

    async def close(self) -> None:
        def close() -> None:
            # Under the lock: closing a connection that another thread is querying crashes sqlite3.
            with self._lock:
                if self._connection is not None:
                    connection, self._connection = self._connection, None
                    connection.close()

        await asyncio.to_thread(close)

    async def _run(self, function, *args):
        def locked():
            with self._lock:
                if self._connection is None:
                    raise RuntimeError("the job store is closed")
                return function(self._connection, *args)

        return await asyncio.to_thread(locked)

    @staticmethod
    def _log_change(connection: sqlite3.Connection, job_id: str) -> None:
        connection.execute("INSERT INTO changes (job_id, at) VALUES (?, ?)", (job_id, time.time()))

    @staticmethod
    def _add_deliveries(connection: sqlite3.Connection, deliveries) -> None:
        connection.executemany(
            "INSERT OR REPLACE INTO webhooks (id, owner, data) VALUES (?, ?, ?)",
            [(delivery.id, delivery.owner, delivery.to_json()) for delivery in deliveries],
        )

    async def create(self, record: JobRecord) -> None:
        def create(connection):
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute(
                    "INSERT INTO jobs (id, owner, data) VALUES (?, ?, ?)", (record.id, record.owner, record.to_json())
                )
                self._log_change(connection, record.id)

        await self._run(create)

    async def get(self, job_id: str) -> JobRecord | None:
        def get(connection):
            return connection.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()

        row = await self._run(get)
        return JobRecord.from_json(row[0]) if row else None

    async def put(self, record: JobRecord, *, expect_owner: str | None = None) -> Written:
        def put(connection) -> Written:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                # The status before the write, where a webhook may hear of its change.
                stored = None if record.webhook is None else connection.execute(
                    "SELECT json_extract(data, '$.status') FROM jobs WHERE id = ?", (record.id,)
                ).fetchone()  # fmt: skip
                # A finished job stays finished: a late progress write never reopens it.
                reopens = "" if record.terminal else " AND json_extract(data, '$.status') NOT IN ('completed', 'failed')"
                if expect_owner is None:
                    cursor = connection.execute(
                        "UPDATE jobs SET owner = ?, data = ? WHERE id = ?" + reopens,
                        (record.owner, record.to_json(), record.id),
                    )
                else:
                    cursor = connection.execute(
                        "UPDATE jobs SET owner = ?, data = ? WHERE id = ? AND owner = ?" + reopens,
                        (record.owner, record.to_json(), record.id, expect_owner),
                    )
                if cursor.rowcount:
                    self._log_change(connection, record.id)
                    # The events the change makes due are written with it, or not at all.
                    self._add_deliveries(connection, due_on_write(stored[0] if stored else None, record))
                    return Written.WRITTEN
                # Nothing written: say why, from the row as it is in this same transaction.
                row = connection.execute(
                    "SELECT owner, json_extract(data, '$.status') FROM jobs WHERE id = ?", (record.id,)
                ).fetchone()
                if row is None:
                    return Written.DELETED
                if expect_owner is not None and row[0] != expect_owner:
                    return Written.NOT_OWNER
                return Written.FINISHED

        return await self._run(put)

    async def delete(self, job_id: str, deliveries: tuple[WebhookDelivery, ...] = ()) -> bool:
        def delete(connection):
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                cursor = connection.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
                if cursor.rowcount:
                    self._log_change(connection, job_id)
                    self._add_deliveries(connection, deliveries)
                return cursor.rowcount > 0

        return await self._run(delete)

    async def deliveries(self) -> list[WebhookDelivery]:
        rows = await self._run(lambda connection: connection.execute("SELECT data FROM webhooks").fetchall())
        return [WebhookDelivery.from_json(row[0]) for row in rows]

    async def put_delivery(self, delivery: WebhookDelivery, *, expect_owner: str) -> bool:
        def put(connection):
            with connection:
                cursor = connection.execute(
                    "UPDATE webhooks SET owner = ?, data = ? WHERE id = ? AND owner = ?",
                    (delivery.owner, delivery.to_json(), delivery.id, expect_owner),
                )
                return cursor.rowcount > 0

        return await self._run(put)

    async def delete_delivery(self, delivery_id: str) -> None:
        def delete(connection):
            with connection:
                connection.execute("DELETE FROM webhooks WHERE id = ?", (delivery_id,))

        await self._run(delete)

    async def all(self) -> list[JobRecord]:
        rows = await self._run(lambda connection: connection.execute("SELECT data FROM jobs").fetchall())
        return [JobRecord.from_json(row[0]) for row in rows]

    async def find(self, query: JobQuery) -> list[JobRecord]:
        def find(connection):
            # Row by row: only the matches are kept.
            return [data for (data,) in connection.execute("SELECT data FROM jobs") if query.matches(json.loads(data))]

        return [JobRecord.from_json(data) for data in await self._run(find)]

    async def heartbeat(self, replica_id: str) -> None:
        def beat(connection):
            now = time.time()
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute(
                    "INSERT INTO replicas (id, heartbeat_at) VALUES (?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                    (replica_id, now),
                )
                connection.execute("DELETE FROM replicas WHERE heartbeat_at < ?", (now - 10 * self.replica_timeout_s,))
                connection.execute("DELETE FROM changes WHERE at < ?", (now - _CHANGE_RETENTION_S,))

        await self._run(beat)

    async def live_replicas(self) -> set[str]:
        def live(connection):
            cutoff = time.time() - self.replica_timeout_s
            return connection.execute("SELECT id FROM replicas WHERE heartbeat_at >= ?", (cutoff,)).fetchall()

        return {row[0] for row in await self._run(live)}

    async def changes(self) -> AsyncIterator[JobChange]:
        def latest(connection):
            return connection.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]

        def since(connection, seq):
            rows = connection.execute(
                "SELECT c.seq, c.job_id, j.data FROM changes c LEFT JOIN jobs j ON j.id = c.job_id "
                "WHERE c.seq > ? ORDER BY c.seq",
                (seq,),
            ).fetchall()
            return rows

        seq = await self._run(latest)
        while True:
            rows = await self._run(since, seq)
            for row_seq, job_id, data in rows:
                seq = row_seq
                yield JobChange(job_id, JobRecord.from_json(data) if data else None)
            await asyncio.sleep(self.poll_interval_s)

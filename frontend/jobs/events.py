"""Who hears of a job's changes on this replica: followers of its events, and the waiting
client of a synchronous generation."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from framecast.frontend.jobs.record import JobRecord
from framecast.protocol import WorkerVideoMessage


@dataclass
class SyncResult:
    record: JobRecord
    final: WorkerVideoMessage | None


class JobEvents:
    def __init__(self) -> None:
        self._followers: dict[str, set[asyncio.Queue[JobRecord | None]]] = collections.defaultdict(set)
        self._waiters: dict[str, asyncio.Future[SyncResult]] = {}

    # -- followers ----------------------------------------------------------------------------

    def publish(self, job_id: str, record: JobRecord | None) -> None:
        """A change of the job (None: it was deleted), to everyone following it here."""
        followers = self._followers.get(job_id)
        if not followers:
            return
        snapshot = record.model_copy(deep=True) if record is not None else None
        for queue in followers:
            queue.put_nowait(snapshot)

    def followed(self, job_id: str) -> bool:
        return job_id in self._followers

    async def follow(
        self, job_id: str, current: Callable[[str], Awaitable[JobRecord | None]]
    ) -> AsyncIterator[JobRecord | None]:
        """The job's record now, then every change until it ends (None: it was deleted).
        Subscribed before `current` is read, so no change falls between the two."""
        queue: asyncio.Queue[JobRecord | None] = asyncio.Queue()
        self._followers[job_id].add(queue)
        try:
            record = await current(job_id)
            yield record
            while record is not None and not record.terminal:
                record = await queue.get()
                yield record
        finally:
            self._followers[job_id].discard(queue)
            if not self._followers[job_id]:
                del self._followers[job_id]

    # -- synchronous waiters ------------------------------------------------------------------

    def expect(self, job_id: str) -> None:
        """A client will wait for this job's end."""
        self._waiters[job_id] = asyncio.get_running_loop().create_future()

    def resolve(self, job_id: str, record: JobRecord, final: WorkerVideoMessage | None = None) -> None:
        """The job ended; the first end told wins. Kept until `wait` collects it."""
        waiter = self._waiters.get(job_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(SyncResult(record, final))

    async def wait(self, job_id: str) -> SyncResult:
        try:
            return await self._waiters[job_id]
        finally:
            self._waiters.pop(job_id, None)

"""What this replica does with the others through the shared store: says it is alive, hears
their writes, takes over the jobs of one that stopped, and expires old outputs."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from framecast.frontend import outputs
from framecast.frontend.jobs.events import JobEvents
from framecast.frontend.jobs.outcome import failed
from framecast.frontend.jobs.record import JobRecord
from framecast.frontend.jobs.settings import JobSettings
from framecast.frontend.jobs.store import JobQuery, JobStore
from framecast.frontend.jobs.tasks import BackgroundTasks
from framecast.frontend.jobs.writer import RecordWriter
from framecast.protocol import ErrorCode, Stage

log = logging.getLogger(__name__)


class LocalJobs(Protocol):
    """The jobs this replica runs, as the coordinator needs them."""

    def holds(self, job_id: str) -> bool: ...

    def stop_here(self, job_id: str, reason: str) -> None: ...

    def run_here(self, record: JobRecord) -> None: ...


@dataclass
class ReplicaCoordinator:
    _store: JobStore
    _replica_id: str
    _settings: JobSettings
    _writer: RecordWriter
    _events: JobEvents
    _local: LocalJobs
    _seen_replicas: set[str] = field(default_factory=set)
    _takeover_rounds: int = 0

    def start(self, tasks: BackgroundTasks) -> None:
        settings = self._settings
        tasks.spawn(self._every("heartbeat", settings.heartbeat_interval_s, self.heartbeat), "heartbeat")
        tasks.spawn(self._follow_changes(), "store changes")
        tasks.spawn(self._every("takeover", settings.takeover_interval_s, self.take_over_orphans), "takeover")
        tasks.spawn(self._every("sweep", settings.sweep_interval_s, self.sweep), "sweep")

    async def _every(self, name: str, interval_s: float, step) -> None:
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:  # one failed round (store unreachable) must not end the loop
                log.exception("%s failed; trying again in %.0fs", name, interval_s)
            await asyncio.sleep(interval_s)

    async def heartbeat(self) -> None:
        await self._store.heartbeat(self._replica_id)
        await self._writer.flush()

    async def _follow_changes(self) -> None:
        """Writes of other replicas: follow remote jobs, and stop local work deleted elsewhere."""
        while True:
            try:
                async for change in self._store.changes():
                    if self._local.holds(change.job_id):
                        if change.record is None or change.record.owner != self._replica_id:
                            self._events.publish(change.job_id, change.record)
                            self._local.stop_here(change.job_id, "deleted or taken over by another frontend")
                    elif self._events.followed(change.job_id):
                        self._events.publish(change.job_id, change.record)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job change feed failed; following it again")
                await asyncio.sleep(1)

    async def take_over_orphans(self) -> None:
        """Jobs whose owner replica stopped heart-beating: run them here (once more at most).

        Reading every record is the expensive part, so it happens when a replica has gone
        silent since the last look, and otherwise only every tenth round."""
        live = await self._store.live_replicas() | {self._replica_id}
        self._takeover_rounds += 1
        someone_left = bool(self._seen_replicas - live)
        self._seen_replicas = live
        if not someone_left and self._takeover_rounds % 10 != 1:
            return
        for record in await self._store.find(JobQuery(unfinished=True, owner_not_in=frozenset(live))):
            previous = record.owner
            record.owner = self._replica_id
            if record.kind == "sync" or record.attempts >= self._settings.max_attempts:
                why = "its client waited on that frontend" if record.kind == "sync" else f"after {record.attempts} attempts"
                failed(record, ErrorCode.OWNER_LOST, f"the frontend replica running this job stopped ({why}); submit it again")
            else:
                record.status, record.stage, record.progress = "queued", Stage.REQUEUED, 0
            if await self._store.put(record, expect_owner=previous):
                log.warning("took over job %s from stopped replica %s: now %s", record.id, previous, record.status)
                if record.status == "queued":
                    self._local.run_here(record)

    async def sweep(self) -> None:
        """Delete outputs past expires_at, and records past their retention."""
        now = time.time()
        for record in await self._store.find(JobQuery(expires_by=now)):
            if now >= record.expires_at + self._settings.record_retention_s:
                await self._store.delete(record.id)
                log.info("job %s record removed (expired at %d)", record.id, record.expires_at)
            elif not record.expired:
                await self.expire(record)

    async def expire(self, record: JobRecord) -> None:
        urls = record.stored_urls()
        await outputs.delete(urls)
        record.expired, record.outputs = True, {}
        await self._store.put(record)
        log.info("job %s expired: deleted %s", record.id, ", ".join(urls) or "nothing")

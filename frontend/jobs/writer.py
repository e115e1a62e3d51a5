"""Writes of the records this replica runs: every change to local followers at once, a few a
second to the shared store, and what the store said as a typed outcome."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from framecast.frontend.jobs.events import JobEvents
from framecast.frontend.jobs.record import JobRecord
from framecast.frontend.jobs.store import JobStore, Written

log = logging.getLogger(__name__)


class Saved(enum.Enum):
    WRITTEN = "written"
    THROTTLED = "throttled"  # followers here have it; the store gets a later change
    # Not in the store yet (unreachable, or other writers kept winning): written again later.
    PENDING = "pending"
    # The store said the job is no longer this replica's to run (deleted, taken over, finished).
    STOPPED = "stopped"

    @property
    def goes_on(self) -> bool:
        return self is not Saved.STOPPED


@dataclass
class RecordWriter:
    store: JobStore
    replica_id: str
    events: JobEvents
    # Progress of one job reaches the store at most this often.
    interval_s: float
    # Told the id of a job the store says is no longer this replica's to run.
    on_stopped: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    _last_write: dict[str, float] = field(default_factory=dict, init=False)
    # Records whose last write did not land, written again by `flush`.
    _pending: dict[str, JobRecord] = field(default_factory=dict, init=False)

    async def save(self, record: JobRecord, *, force: bool = False) -> Saved:
        """Publish to followers here; write to the store unless one was written less than the
        interval ago (`force`: a change of state, always written)."""
        self.events.publish(record.id, record)
        now = self.clock()
        if not force and now - self._last_write.get(record.id, float("-inf")) < self.interval_s:
            return Saved.THROTTLED
        self._last_write[record.id] = now
        return await self._write(record)

    async def _write(self, record: JobRecord) -> Saved:
        try:
            written = await self.store.put(record, expect_owner=self.replica_id)
        except Exception as error:  # store down: keep working; `flush` writes it again
            log.warning("job %s: store write failed (%s); will write again", record.id, error)
            self._pending[record.id] = record
            return Saved.PENDING
        if written is Written.CONTENTION:
            log.warning("job %s: other writers kept winning the store; will write again", record.id)
            self._pending[record.id] = record
            return Saved.PENDING
        self._pending.pop(record.id, None)
        if written.stops_the_job:
            log.info("job %s: not written (%s); its work here stops", record.id, written.value)
            self.on_stopped(record.id)
            return Saved.STOPPED
        return Saved.WRITTEN

    async def flush(self) -> None:
        """Write again what did not land (called by the heartbeat)."""
        for job_id, record in list(self._pending.items()):
            if self._pending.get(job_id) is record and (await self._write(record)) is Saved.WRITTEN:
                log.info("job %s written to the store again", job_id)

    def pending(self, job_id: str) -> JobRecord | None:
        return self._pending.get(job_id)

    def finished(self, job_id: str) -> None:
        """The job ended here: no more progress to throttle. A final write still pending stays
        until `flush` lands it (until then `pending` answers for the job)."""
        self._last_write.pop(job_id, None)

    def discard(self, job_id: str) -> None:
        """The job was deleted: nothing of it is written any more."""
        self._last_write.pop(job_id, None)
        self._pending.pop(job_id, None)

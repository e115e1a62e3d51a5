"""Where job records live, so that every frontend replica can answer for every job.

Two implementations behind one interface: SQLite (one machine, the default) and etcd
(shared by replicas on many machines). Both also keep the replicas' heartbeats, which is how
a replica learns that the owner of a job has died.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from framecast.frontend.jobs.deliveries import WebhookDelivery
from framecast.frontend.jobs.record import TERMINAL, JobRecord


class Written(enum.Enum):
    """What a conditional write of a record did."""

    WRITTEN = "written"
    # Nothing was written, for a reason that stops the writer's work on the job:
    DELETED = "deleted"  # the record is gone
    NOT_OWNER = "not_owner"  # another replica owns it now
    FINISHED = "finished"  # it is completed or failed, and the write would have reopened it
    # Nothing was written, and nothing is known against the writer: other writers kept winning
    # the compare-and-swap. Write it again later.
    CONTENTION = "contention"

    @property
    def stops_the_job(self) -> bool:
        return self in (Written.DELETED, Written.NOT_OWNER, Written.FINISHED)

    def __bool__(self) -> bool:
        return self is Written.WRITTEN


@dataclass(frozen=True)
class JobQuery:
    """Which records a scan returns: those that meet every condition given. A store tests it
    on each record's plain JSON and builds records only for the matches, so a round that looks
    for a few jobs among thousands never holds them all at once."""

    unfinished: bool = False
    owner_not_in: frozenset[str] | None = None
    expires_by: float | None = None
    tenant: str | None = None
    model: str | None = None

    def matches(self, data: dict) -> bool:
        expires_at = data.get("expires_at")
        return not (
            (self.unfinished and data.get("status") in TERMINAL)
            or (self.owner_not_in is not None and data.get("owner") in self.owner_not_in)
            or (self.expires_by is not None and (expires_at is None or expires_at > self.expires_by))
            or (self.tenant is not None and data.get("tenant") != self.tenant)
            or (self.model is not None and data.get("model") != self.model)
        )


@dataclass(frozen=True)
class JobChange:
    job_id: str
    record: JobRecord | None  # None: deleted


class JobStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def create(self, record: JobRecord) -> None: ...

    async def get(self, job_id: str) -> JobRecord | None: ...

    async def put(self, record: JobRecord, *, expect_owner: str | None = None) -> Written:
        """Write the record; with expect_owner, only if the stored one is still owned by it.
        Never turns a finished (completed or failed) record back into an unfinished one. A
        change of status its webhook asks to hear of writes the event's delivery with it."""
        ...

    async def delete(self, job_id: str, deliveries: tuple[WebhookDelivery, ...] = ()) -> bool:
        """Delete the record, and write `deliveries` with it (a cancelled job's event)."""
        ...

    async def deliveries(self) -> list[WebhookDelivery]:
        """Every webhook delivery not yet delivered or given up."""
        ...

    async def put_delivery(self, delivery: WebhookDelivery, *, expect_owner: str) -> bool:
        """Write the delivery if the stored one is still owned by expect_owner (False: it is
        gone, or another replica took it)."""
        ...

    async def delete_delivery(self, delivery_id: str) -> None: ...

    async def all(self) -> list[JobRecord]: ...

    async def find(self, query: JobQuery) -> list[JobRecord]:
        """The records that match the query."""
        ...

    async def heartbeat(self, replica_id: str) -> None:
        """Say this replica is alive (call it more often than the store's replica timeout)."""
        ...

    async def live_replicas(self) -> set[str]: ...

    def changes(self) -> AsyncIterator[JobChange]:
        """Every later write and delete of any job, in order."""
        ...


def page(
    records: list[JobRecord], after: str | None, limit: int, order: Literal["asc", "desc"]
) -> tuple[list[JobRecord], bool]:
    """A page of records by creation time, starting after the id `after`; and whether more follow."""
    ordered = sorted(records, key=lambda record: (record.created_at, record.id), reverse=order == "desc")
    start = 0
    if after is not None:
        ids = [record.id for record in ordered]
        start = ids.index(after) + 1 if after in ids else len(ids)
    chunk = ordered[start : start + limit]
    return chunk, start + limit < len(ordered)


class StoreUnavailable(Exception):
    """The job store could not be reached."""

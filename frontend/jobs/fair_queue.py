"""One model's queue on one replica, in the order jobs are dispatched: turns across the tenants
that have jobs waiting, each tenant's jobs in their own order (fair), or arrival order (fifo).

Turns are stride scheduling: a tenant's pass grows by 1/weight with every job it is given, and
the waiting tenant with the lowest pass goes next (ties: the earlier arrival). A tenant that
starts waiting again joins at the pass of the latest dispatch, so time it spent idle earns it
no burst. A job run again after its worker was lost goes before every tenant's turn.
Pure logic: no clock, no I/O."""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Iterator

QUEUE_POLICIES = ("fair", "fifo")


class _Tenant:
    __slots__ = ("jobs", "pass_")

    def __init__(self) -> None:
        self.jobs: collections.deque[tuple[int, str]] = collections.deque()  # (arrival, job id)
        self.pass_ = 0.0


class FairQueue:
    def __init__(self, policy: str = "fair", weight_of: Callable[[str | None], float] = lambda tenant: 1.0):
        if policy not in QUEUE_POLICIES:
            raise ValueError(f"queue policy {policy!r}: choose {' or '.join(QUEUE_POLICIES)}")
        self._fair = policy == "fair"
        self._weight_of = weight_of
        self._first: collections.deque[str] = collections.deque()
        # Tenants with jobs waiting; an idle tenant's pass is kept while it is remembered here.
        self._tenants: dict[str | None, _Tenant] = {}
        self._tenant_of: dict[str, str | None] = {}
        self._arrivals = itertools.count()
        # The pass of the latest dispatch: where a tenant that starts waiting joins.
        self._clock = 0.0

    def __len__(self) -> int:
        return len(self._tenant_of)

    def __bool__(self) -> bool:
        return bool(self._tenant_of)

    def push(self, job_id: str, tenant: str | None, *, first: bool = False) -> None:
        self._tenant_of[job_id] = tenant
        if first:
            self._first.appendleft(job_id)
            return
        queue = self._tenants.get(tenant)
        if queue is None:
            queue = self._tenants[tenant] = _Tenant()
        if not queue.jobs:
            queue.pass_ = max(queue.pass_, self._clock)
        queue.jobs.append((next(self._arrivals), job_id))

    def remove(self, job_id: str) -> bool:
        """Out of the queue without a turn spent (deleted, or its client went away)."""
        if job_id not in self._tenant_of:
            return False
        tenant = self._tenant_of.pop(job_id)
        if job_id in self._first:
            self._first.remove(job_id)
            return True
        queue = self._tenants[tenant]
        queue.jobs.remove(next(entry for entry in queue.jobs if entry[1] == job_id))
        self._forget_if_idle(tenant)
        return True

    def take(self, job_id: str) -> None:
        """Out of the queue for dispatch: its tenant's turn is spent."""
        tenant = self._tenant_of.pop(job_id)
        if job_id in self._first:
            self._first.remove(job_id)
            return
        queue = self._tenants[tenant]
        queue.jobs.remove(next(entry for entry in queue.jobs if entry[1] == job_id))
        self._clock = max(self._clock, queue.pass_)
        queue.pass_ += 1.0 / max(self._weight_of(tenant), 1e-9)
        self._forget_if_idle(tenant)

    def take_all(self) -> list[str]:
        job_ids = list(self.order(len(self)))
        self._first.clear()
        self._tenants.clear()
        self._tenant_of.clear()
        return job_ids

    def order(self, limit: int) -> list[str]:
        """The next `limit` jobs in dispatch order, the queue left as it is."""
        return list(itertools.islice(self._ordered(), limit))

    def _ordered(self) -> Iterator[str]:
        yield from self._first
        # Each tenant's position in its own jobs, and its pass as if the jobs before were taken.
        position = {tenant: 0 for tenant, queue in self._tenants.items() if queue.jobs}
        passes = {tenant: self._tenants[tenant].pass_ for tenant in position}
        while position:
            tenant = min(position, key=lambda name: self._rank(name, position[name], passes[name]))
            queue = self._tenants[tenant]
            yield queue.jobs[position[tenant]][1]
            position[tenant] += 1
            passes[tenant] += 1.0 / max(self._weight_of(tenant), 1e-9)
            if position[tenant] == len(queue.jobs):
                del position[tenant]

    def _rank(self, tenant: str | None, index: int, pass_: float) -> tuple:
        arrival = self._tenants[tenant].jobs[index][0]
        return (pass_, arrival) if self._fair else (arrival,)

    def _forget_if_idle(self, tenant: str | None) -> None:
        # An idle tenant at or behind the clock would rejoin at the clock anyway: nothing to keep.
        queue = self._tenants.get(tenant)
        if queue is not None and not queue.jobs and queue.pass_ <= self._clock:
            del self._tenants[tenant]

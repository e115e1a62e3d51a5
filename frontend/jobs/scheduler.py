"""Which job goes to which worker, and when: one queue per model (turns across tenants, or
arrival order: fair_queue.py), a round-robin turn among the model's idle workers, quarantined workers skipped, and a queue that fails when its model has had
no live worker for too long. A job naming LoRA adapters goes to an idle worker that already
holds them loaded where there is one, else to any idle worker offering them; when none holds
them, a job a little further back that an idle worker can run without loading may go first.
Pure logic over a view of the live workers: no store, no request."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from framecast.frontend.discovery import ServedModel, WorkerInstance
from framecast.frontend.jobs.fair_queue import FairQueue
from framecast.frontend.quarantine import Quarantine


# A job naming adapters that no idle worker holds may let one of the next jobs that an idle
# worker can run without loading go first: so many jobs are looked at, so many times at most.
ADAPTER_LOOKAHEAD = 16
MAX_PASSED_OVER = 4


class LiveWorkers(Protocol):
    def models(self) -> dict[str, ServedModel]: ...

    def adapters_loaded(self, instance_id: int) -> frozenset[str]: ...


class Slot:
    """A job's place on one worker: generating until its generator is freed, held until the job
    leaves the worker (encoded and stored). Both ends are idempotent."""

    def __init__(self, scheduler: Scheduler, instance: WorkerInstance):
        self.instance = instance
        self._scheduler = scheduler
        self._generating = True
        self._held = True

    def free_generator(self) -> None:
        if self._generating:
            self._generating = False
            self._scheduler._generating[self.instance.instance_id] -= 1
            self._scheduler._changed.set()

    def release(self) -> None:
        self.free_generator()
        if self._held:
            self._held = False
            self._scheduler._held[self.instance.instance_id] -= 1
            self._scheduler._changed.set()


@dataclass(frozen=True)
class Dispatch:
    job_id: str
    slot: Slot
    waited_s: float  # in the queue
    # For a job naming adapters: whether its worker held them all loaded already.
    adapters_warm: bool | None = None


@dataclass(frozen=True)
class NoWorker:
    """The model had no live worker for the no-worker timeout: these queued jobs fail."""

    model: str
    job_ids: list[str]


class Scheduler:
    def __init__(
        self,
        workers: LiveWorkers,
        quarantine: Quarantine,
        *,
        no_worker_timeout_s: float,
        jobs_held_per_worker: int = 3,
        recheck_s: float = 0.25,
        adapter_affinity: bool = True,
        queue_policy: str = "fair",
        tenant_weight: Callable[[str | None], float] = lambda tenant: 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._workers = workers
        self._quarantine = quarantine
        self._no_worker_timeout_s = no_worker_timeout_s
        # A worker takes a job while nothing generates there, and while it holds fewer jobs than
        # this (the others being encoded and stored).
        self._jobs_held_per_worker = jobs_held_per_worker
        # New workers appear without a signal, so a waiting model looks again this often.
        self._recheck_s = recheck_s
        self._clock = clock
        self._adapter_affinity = adapter_affinity
        FairQueue(queue_policy)  # an unknown policy fails here, not at the first job
        self._queue_policy = queue_policy
        self._tenant_weight = tenant_weight
        self._queues: dict[str, FairQueue] = {}
        self._model_of: dict[str, str] = {}
        self._enqueued_at: dict[str, float] = {}
        self._generating: collections.Counter[int] = collections.Counter()
        self._held: collections.Counter[int] = collections.Counter()
        self._last_turn: dict[str, int] = {}
        self._adapters_of: dict[str, tuple[str, ...]] = {}
        # Times a queued job was passed over for a later one whose adapters a worker held.
        self._passed_over: collections.Counter[str] = collections.Counter()
        self._changed = asyncio.Event()

    # -- queues -------------------------------------------------------------------------------

    def _queue(self, model: str) -> FairQueue:
        queue = self._queues.get(model)
        if queue is None:
            queue = self._queues[model] = FairQueue(self._queue_policy, self._tenant_weight)
        return queue

    def enqueue(
        self, model: str, job_id: str, *, first: bool = False, adapters: tuple[str, ...] = (), tenant: str | None = None
    ) -> None:
        """Queue a job of `tenant`; `first`: ahead of the others (a job run again after its worker
        was lost); `adapters`: the LoRA adapters it names."""
        self._queue(model).push(job_id, tenant, first=first)
        self._model_of[job_id] = model
        if adapters:
            self._adapters_of[job_id] = tuple(adapters)
        self._enqueued_at[job_id] = self._clock()
        self._changed.set()

    def remove(self, job_id: str) -> bool:
        """Take a queued job out (deleted, or its client went away). False when it is not queued."""
        model = self._model_of.pop(job_id, None)
        self._enqueued_at.pop(job_id, None)
        self._adapters_of.pop(job_id, None)
        self._passed_over.pop(job_id, None)
        if model is None:
            return False
        self._queues[model].remove(job_id)
        return True

    def depth(self, model: str) -> int:
        return len(self._queues.get(model, ()))

    def queued_models(self) -> set[str]:
        return set(self._queues)


    # -- choosing a worker --------------------------------------------------------------------

    def live(self, model: str) -> list[WorkerInstance]:
        served = self._workers.models().get(model)
        return [instance for instance in (served.instances if served else []) if instance.instance_id not in self._quarantine]

    def _is_free(self, instance: WorkerInstance) -> bool:
        instance_id = instance.instance_id
        return not self._generating[instance_id] and self._held[instance_id] < self._jobs_held_per_worker

    def _for_adapters(self, adapters: tuple[str, ...], live: list[WorkerInstance], idle: list[WorkerInstance]):
        """The idle workers a job naming `adapters` may go to, and the ids of those holding them
        loaded: those holding them all (with affinity on), else those offering them. A job no
        live worker offers them goes anywhere, to be refused there with the reason."""
        if not adapters:
            return idle, None
        if not any(instance.offers(adapters) for instance in live):
            return idle, set()
        offering = [instance for instance in idle if instance.offers(adapters)]
        warm = [instance for instance in offering if set(adapters) <= self._workers.adapters_loaded(instance.instance_id)]
        warm_ids = {instance.instance_id for instance in warm}
        return (warm if warm and self._adapter_affinity else offering), warm_ids

    def _pick(self, model: str, queue, live: list[WorkerInstance], idle: list[WorkerInstance]):
        """The next (job, worker, warm) or None: the first queued job on its worker. Where that
        worker would load the job's adapters, a job a little further back whose adapters an
        idle worker holds goes first instead; the first job is passed over at most
        MAX_PASSED_OVER times, so it waits a few jobs at most."""
        (head,) = queue.order(1)
        candidates, warm_ids = self._for_adapters(self._adapters_of.get(head, ()), live, idle)
        if not candidates:
            return None
        if warm_ids is not None and not warm_ids and self._adapter_affinity and self._passed_over[head] < MAX_PASSED_OVER:
            for job_id in queue.order(ADAPTER_LOOKAHEAD)[1:]:
                adapters = self._adapters_of.get(job_id)
                holders = [
                    instance for instance in idle
                    if adapters and instance.offers(adapters) and set(adapters) <= self._workers.adapters_loaded(instance.instance_id)
                ]  # fmt: skip
                if holders:
                    self._passed_over[head] += 1
                    return job_id, holders[0], True
        instance = self._next_turn(model, candidates)
        return head, instance, None if warm_ids is None else instance.instance_id in warm_ids

    def _next_turn(self, model: str, idle: list[WorkerInstance]) -> WorkerInstance:
        """Round-robin: the first idle worker after the one this model was last sent to."""
        ordered = sorted(idle, key=lambda instance: instance.instance_id)
        last = self._last_turn.get(model)
        chosen = next((instance for instance in ordered if last is None or instance.instance_id > last), ordered[0])
        self._last_turn[model] = chosen.instance_id
        return chosen

    async def next(self, model: str) -> Dispatch | NoWorker:
        """Wait for a queued job of the model and a free worker for it, and reserve the worker.
        NoWorker (with every queued job) once the model has had no live worker for the timeout."""
        queue = self._queue(model)
        last_live = self._clock()
        while True:
            now = self._clock()
            live = self.live(model) if queue else []
            if not queue or live:
                last_live = now  # a model with nothing queued is not waiting for anyone
            elif now - last_live > self._no_worker_timeout_s:
                job_ids = queue.take_all()
                for job_id in job_ids:
                    self._model_of.pop(job_id, None)
                    self._enqueued_at.pop(job_id, None)
                    self._adapters_of.pop(job_id, None)
                    self._passed_over.pop(job_id, None)
                return NoWorker(model, job_ids)
            idle = [instance for instance in live if self._is_free(instance)]
            # Looked at again after every wait: the job that was waiting may have been removed.
            picked = self._pick(model, queue, live, idle) if queue else None
            if picked is not None:
                job_id, instance, warm = picked
                queue.take(job_id)
                self._model_of.pop(job_id, None)
                self._adapters_of.pop(job_id, None)
                self._passed_over.pop(job_id, None)
                self._generating[instance.instance_id] += 1
                self._held[instance.instance_id] += 1
                waited = now - self._enqueued_at.pop(job_id, now)
                return Dispatch(job_id, Slot(self, instance), waited, warm)
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=self._recheck_s)

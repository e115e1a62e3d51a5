"""The job engine's front: what the routes ask of it (submit, read, follow, wait, delete), and
the life of a job on this replica: queued, sent to a worker, run again where its worker was
lost, ended. The parts do the work: intake.py takes a request in, scheduler.py picks the
worker, runner.py reads one worker's answer, writer.py writes the record, events.py tells
followers and waiters, replicas.py deals with the other replicas.

Both routes go through here: a job of `POST /v1/videos` and the one behind a waiting
`POST /v1/videos/generations` share the queue, the dispatch and the records.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import uuid
from collections.abc import AsyncIterator

from dynamo.runtime import Context

from framecast.frontend import outputs
from framecast.frontend.discovery import WorkerDirectory
from framecast.frontend.jobs import outcome
from framecast.frontend.jobs.admission import Admission
from framecast.frontend.jobs.deliveries import event_delivery
from framecast.frontend.jobs.events import JobEvents, SyncResult
from framecast.frontend.jobs.held import HeldJobs
from framecast.frontend.jobs.intake import Intake, JobRequest
from framecast.frontend.jobs.record import JobRecord
from framecast.frontend.jobs.replicas import ReplicaCoordinator
from framecast.frontend.jobs.runner import RunEnd, run_on_worker
from framecast.frontend.jobs.scheduler import Dispatch, NoWorker, Scheduler, Slot
from framecast.frontend.jobs.settings import JobSettings, RequestLimits
from framecast.frontend.jobs.store import JobStore, StoreUnavailable
from framecast.frontend.jobs.tasks import BackgroundTasks
from framecast.frontend.jobs.writer import RecordWriter
from framecast.frontend.metrics import FrontendMetrics
from framecast.protocol import ErrorCode, Stage, VideoJobError, WebhookTarget

log = logging.getLogger(__name__)


class JobManager:
    def __init__(
        self,
        store: JobStore,
        directory: WorkerDirectory,
        settings: JobSettings | None = None,
        limits: RequestLimits | None = None,
        metrics: FrontendMetrics | None = None,
        tenant_weights: dict[str, float] | None = None,
    ):
        self.store = store
        self.directory = directory
        self.settings = settings = settings or JobSettings()
        self.metrics = metrics or FrontendMetrics()
        self.replica_id = uuid.uuid4().hex[:12]
        self.admission = Admission(settings.queue_per_worker)
        self.events = JobEvents()
        weights = dict(tenant_weights or {})
        self.scheduler = Scheduler(
            directory, directory.quarantine, no_worker_timeout_s=settings.no_worker_timeout_s,
            adapter_affinity=settings.lora_affinity is not False, queue_policy=settings.queue_policy,
            tenant_weight=lambda tenant: weights.get(tenant, 1.0) if tenant is not None else 1.0,
        )  # fmt: skip
        self.writer = RecordWriter(
            store, self.replica_id, self.events, interval_s=settings.progress_write_interval_s, on_stopped=self._stop_local
        )
        self.intake = Intake(store, directory, self.admission, limits or RequestLimits(), self.metrics, self.replica_id, self.unfinished)
        self.replicas = ReplicaCoordinator(store, self.replica_id, settings, self.writer, self.events, self)
        self._tasks = BackgroundTasks()
        # Jobs this replica runs: waiting in its queues or sent to a worker.
        self._held = HeldJobs()
        self._contexts: dict[str, Context] = {}
        self._dispatchers: dict[str, asyncio.Task] = {}
        self._accepting = True

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.heartbeat(self.replica_id)
        self.replicas.start(self._tasks)
        log.info("job manager up: replica %s", self.replica_id)

    @property
    def background(self) -> BackgroundTasks:
        """The replica's background work (what runs beside the jobs starts here, and ends with it)."""
        return self._tasks

    async def close(self) -> None:
        for context in self._contexts.values():
            context.stop_generating()
        await self._tasks.cancel_all()

    async def drain(self, timeout_s: float) -> None:
        """Graceful stop: take no new job, let running ones finish (up to timeout_s). Queued
        jobs stay in the store for another replica, or this one restarted, to take over."""
        self._accepting = False
        for task in self._dispatchers.values():
            task.cancel()
        deadline = time.monotonic() + timeout_s
        while self._contexts and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if self._contexts:
            log.warning("%d job(s) still running at the end of the drain; another replica runs them again", len(self._contexts))
        await self.writer.flush()

    # -- creating -----------------------------------------------------------------------------

    async def submit(
        self, body: JobRequest, kind: str = "job", tenant: str | None = None, webhook: WebhookTarget | None = None
    ) -> JobRecord:
        """Check the request with a worker of its model and queue it (see Intake.admit for
        what it raises); `webhook`: where its events go."""
        if not self._accepting:
            raise StoreUnavailable("this frontend is shutting down")
        record = await self.intake.admit(body, kind, tenant, webhook)
        if kind == "sync":
            self.events.expect(record.id)
        self.run_here(record)
        return record

    def unfinished(self, model: str) -> int:
        """Jobs of the model this replica holds, queued or running."""
        return self._held.count(model)

    def queue_depth(self, model: str) -> int:
        return self.scheduler.depth(model)

    def live_state(self) -> dict[str, tuple[int, int, int]]:
        """model -> (jobs queued here, jobs running from here, live workers), for /metrics."""
        served = self.directory.models()
        running = collections.Counter(record.model for job_id in self._contexts if (record := self._held.running(job_id)))
        return {
            model: (self.queue_depth(model), running[model], len(served[model].instances) if model in served else 0)
            for model in set(served) | self.scheduler.queued_models()
        }

    # -- queue and dispatch -------------------------------------------------------------------

    def run_here(self, record: JobRecord, *, first: bool = False) -> None:
        """Queue a job on this replica (new, taken over, or run again)."""
        self._held.queue(record)
        adapters = tuple(choice.name for choice in record.request.lora or ())
        self.scheduler.enqueue(record.model, record.id, first=first, adapters=adapters, tenant=record.tenant)
        dispatcher = self._dispatchers.get(record.model)
        if self._accepting and (dispatcher is None or dispatcher.done()):
            self._dispatchers[record.model] = self._tasks.spawn(self._dispatch(record.model), f"dispatch {record.model}")

    def holds(self, job_id: str) -> bool:
        return job_id in self._held

    async def _dispatch(self, model: str) -> None:
        while True:
            chosen = await self.scheduler.next(model)
            if isinstance(chosen, NoWorker):
                message = f"no live worker served {model} for {self.settings.no_worker_timeout_s:g}s while the job waited"
                for job_id in chosen.job_ids:
                    await self._fail_queued(job_id, message)
                continue
            self._start(chosen)

    def _start(self, chosen: Dispatch) -> None:
        record = self._held.start(chosen.job_id)
        if record is None:  # deleted as it was chosen
            chosen.slot.release()
            return
        self.metrics.stage_seconds.labels(record.model, Stage.QUEUE_WAIT).observe(chosen.waited_s)
        self.metrics.tenant_queue_wait.labels(record.model, record.tenant or "none").observe(chosen.waited_s)
        if chosen.adapters_warm is not None:
            self.metrics.adapter_dispatches.labels(record.model, "warm" if chosen.adapters_warm else "cold").inc()
        self._tasks.spawn(self._run(record, chosen.slot), f"job {record.id}")

    async def _fail_queued(self, job_id: str, message: str) -> None:
        record = self._held.pop(job_id)
        if record is None:
            return
        outcome.failed(record, ErrorCode.NO_LIVE_WORKER, message)
        self._count_end(record)
        await self.writer.save(record, force=True)
        self.writer.finished(job_id)
        await self._drop_input(record)
        self.events.resolve(record.id, record)
        log.warning("job %s failed: %s", record.id, message)

    async def _run(self, record: JobRecord, slot: Slot) -> None:
        instance = slot.instance
        context = Context()
        self._contexts[record.id] = context
        record.status, record.stage, record.progress = "in_progress", Stage.DISPATCHED, 0
        record.started_at, record.worker = time.time(), f"{instance.instance_id:x}"
        record.attempts += 1
        try:
            await self.writer.save(record, force=True)
            end = await run_on_worker(
                record,
                lambda: self.directory.generate(record.request.wire(stream=True), instance.instance_id, context),
                stall_timeout_s=self.settings.stall_timeout_s,
                on_progress=self.writer.save,
                on_generation_freed=slot.free_generator,
                stop=context.stop_generating,
            )
        finally:
            slot.release()
            self._contexts.pop(record.id, None)
        await self._settle(record, instance.instance_id, end)

    async def _settle(self, record: JobRecord, instance_id: int, end: RunEnd) -> None:
        """After the worker's answer: run the job again elsewhere, or end it."""
        final = end.final
        if final is not None:
            self.directory.note_adapters(instance_id, final.adapters_loaded)
        if record.id not in self._held:
            # Deleted or abandoned meanwhile; a video that still got stored goes too.
            if final is not None:
                await outputs.delete(outcome.output_urls(final))
            return
        draining = final is not None and final.error_detail is not None and final.error_detail.code == ErrorCode.WORKER_DRAINING
        if end.lost_worker or draining:
            if await self._after_loss(record, instance_id, end.lost or "it is shutting down", draining):
                return
            final = None
        outcome.finish(record, final, self.settings.ttl_s)
        if record.status == "completed" and record.started_at:
            self.admission.record_service(record.model, record.completed_at - record.started_at)
        if final is not None and final.timings:
            self.metrics.observe_stages(record.model, final.timings)
        self._count_end(record)
        saved = await self.writer.save(record, force=True)
        self._held.pop(record.id)
        self.writer.finished(record.id)
        if not saved.goes_on and final is not None:
            await outputs.delete(outcome.output_urls(final))
        if record.status == "failed" and saved.goes_on:
            await self._drop_input(record)
        self.events.resolve(record.id, record, final)

    async def _after_loss(self, record: JobRecord, instance_id: int, why: str, draining: bool) -> bool:
        """The worker was lost (or is shutting down). True when the job runs again elsewhere;
        otherwise record.error says why it cannot."""
        stage = record.stage if record.stage not in (None, Stage.DISPATCHED) else "the start"
        self.directory.mark_lost(instance_id, why)
        if draining:
            record.attempts -= 1  # it never started there
        loss = f"worker {record.worker} was lost during {stage}: {why}"
        if draining or (record.attempts < self.settings.max_attempts and self.scheduler.live(record.model)):
            if not draining:
                record.earlier_loss = loss
            # Nothing was produced: run it again elsewhere (same id, same seed).
            log.warning("job %s: worker %s lost during %s (%s); running it again", record.id, record.worker, stage, why)
            record.status, record.stage, record.progress = "queued", Stage.RETRYING, 0
            if (await self.writer.save(record, force=True)).goes_on:
                self.run_here(record, first=True)
            return True
        if record.attempts >= self.settings.max_attempts:
            after = f"it had run {record.attempts} times, the most a job may"
            if record.earlier_loss:
                after += f" (before: {record.earlier_loss})"
        else:
            after = f"no other live worker serves {record.model}"
        record.error = VideoJobError(code=ErrorCode.WORKER_LOST, message=f"{loss}; {after}")
        return False

    def _count_end(self, record: JobRecord) -> None:
        code = record.error.code if record.error else ""
        self.metrics.jobs_finished.labels(record.model, record.status, code).inc()
        self.metrics.job_seconds.labels(record.model, record.status).observe(time.time() - record.created_at)

    # -- stopping -----------------------------------------------------------------------------

    def _stop_local(self, job_id: str) -> JobRecord | None:
        """Forget a local job: out of its queue, or its worker told to stop at the next step."""
        record = self._held.pop(job_id)
        self.scheduler.remove(job_id)
        context = self._contexts.get(job_id)
        if context is not None:
            context.stop_generating()
        return record

    def stop_here(self, job_id: str, reason: str) -> None:
        """Another replica deleted the job or took it over: stop the work here."""
        log.info("job %s: %s; stopping it here", job_id, reason)
        record = self._stop_local(job_id)
        if record is not None:
            self.events.resolve(job_id, outcome.cancelled(record, reason))

    async def delete(self, job_id: str) -> bool:
        """DELETE /v1/videos/{id}: stop the work wherever it runs, delete the record and outputs."""
        record = await self.get(job_id)
        if record is None:
            return False
        cancelled = outcome.cancelled(record, "the video was deleted")
        # Deleting an unfinished job cancels it: its webhook hears of it (written with the delete).
        event = None if record.terminal else event_delivery(cancelled, "cancelled", owner=self.replica_id)
        try:
            await self.store.delete(job_id, (event,) if event else ())
        except Exception as error:
            raise StoreUnavailable(f"the job store is unreachable: {error}") from error
        if job_id in self._held:
            self._count_end(outcome.cancelled(record, "deleted"))
        self._stop_local(job_id)
        self.writer.discard(job_id)
        await outputs.delete(record.stored_urls())
        self.events.publish(job_id, None)
        self.events.resolve(job_id, cancelled)
        log.info("job %s deleted (was %s)", job_id, record.status)
        return True

    async def abandon(self, job_id: str, reason: str) -> None:
        """Stop a job nobody waits for any more (its synchronous client went away)."""
        record = self._stop_local(job_id)
        if record is None:
            return
        record = outcome.cancelled(record, reason)
        self._count_end(record)
        await self.writer.save(record, force=True)
        self.writer.finished(job_id)
        await self._drop_input(record)
        self.events.resolve(job_id, record)
        log.info("job %s cancelled: %s", job_id, reason)

    async def expire(self, record: JobRecord) -> None:
        await self.replicas.expire(record)

    @staticmethod
    async def _drop_input(record: JobRecord) -> None:
        """A failed job's input image goes at once; a completed job's stays with its outputs."""
        if record.input_url:
            await outputs.delete([record.input_url])

    # -- reading and following ----------------------------------------------------------------

    async def get(self, job_id: str) -> JobRecord | None:
        local = self._held.get(job_id) or self.writer.pending(job_id)
        if local is not None:
            return local
        try:
            return await self.store.get(job_id)
        except Exception as error:
            raise StoreUnavailable(f"the job store is unreachable: {error}") from error

    async def all(self) -> list[JobRecord]:
        try:
            return await self.store.all()
        except Exception as error:
            raise StoreUnavailable(f"the job store is unreachable: {error}") from error

    def follow(self, job_id: str) -> AsyncIterator[JobRecord | None]:
        """The job's record now, then every change until it ends (None: it was deleted)."""
        return self.events.follow(job_id, self.get)

    async def wait(self, job_id: str) -> SyncResult:
        return await self.events.wait(job_id)


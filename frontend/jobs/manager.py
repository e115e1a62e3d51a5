"""Runs video jobs: one queue per model, dispatch to idle workers, live progress, cancellation,
takeover of jobs whose frontend died, and expiry of outputs.

Both routes go through here: a job of `POST /v1/videos` and the one behind a waiting
`POST /v1/videos/generations` share the queue, the dispatch and the records.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from dynamo.runtime import Context
from pydantic import ValidationError

from framecast.frontend import outputs
from framecast.frontend.discovery import WorkerDirectory, WorkerInstance
from framecast.frontend.jobs import codes
from framecast.frontend.jobs.admission import Admission, QueueFull
from framecast.frontend.jobs.record import JobRecord
from framecast.frontend.jobs.store import JobStore
from framecast.frontend.metrics import FrontendMetrics
from framecast.protocol import ErrorBody, RequestFieldError, VideoJobError, VideoRequestBase, WorkerVideoMessage

log = logging.getLogger(__name__)

EXTRA_OUTPUTS = ["thumbnail", "spritesheet"]
# Stages after which a worker's generator is free: the next job may start there while this one
# is encoded and stored.
FINISHING_STAGES = {"encoding", "storing"}


def generation_ending(update: WorkerVideoMessage) -> bool:
    """The worker is about to free its generator: the job is past generation, in VAE decoding, or
    in its last denoising step. The next job is sent then, and waits at the worker for at most
    that long instead of the generator waiting a round trip for it."""
    if update.stage in FINISHING_STAGES or update.stage == "decoding":
        return True
    return update.stage == "denoising" and bool(update.total_steps) and (update.step or 0) >= update.total_steps - 1


@dataclass(frozen=True)
class JobSettings:
    # How long outputs stay downloadable after completion, and records after that.
    ttl_s: float = 24 * 3600
    record_retention_s: float = 24 * 3600
    # What `openai-poll-after-ms` tells polling clients.
    poll_after_ms: int = 1000
    # Progress reaches the shared store at most this often per job (stage changes always do).
    progress_write_interval_s: float = 0.25
    # A replica silent for this long is dead, and its unfinished jobs are taken over.
    replica_timeout_s: float = 10.0
    heartbeat_interval_s: float = 2.0
    takeover_interval_s: float = 3.0
    sweep_interval_s: float = 30.0
    # A job is started at most this many times (its worker or its frontend died while it ran).
    max_attempts: int = 2
    # Admission: unfinished jobs a model may hold per live worker, besides the running one.
    queue_per_worker: int = 8
    # A running job whose worker says nothing for this long is treated as a lost worker.
    # Workers speak at least every few seconds while a job runs, however long the video.
    stall_timeout_s: float = 60.0
    # A queued job with no live worker of its model for this long fails (no_live_worker).
    no_worker_timeout_s: float = 300.0


@dataclass(frozen=True)
class RequestLimits:
    """What this deployment accepts, on top of each model's own limits (None: no extra limit)."""

    max_prompt_chars: int = 4000
    max_frames: int | None = None
    max_pixels: int | None = None
    max_steps: int | None = None
    # Unfinished jobs one tenant may hold, counted over every replica (0: no limit).
    max_jobs_per_key: int = 0

    def check_prompt(self, prompt: str) -> None:
        if len(prompt) > self.max_prompt_chars:
            raise RequestFieldError(
                "prompt", f"prompt is {len(prompt)} characters; at most {self.max_prompt_chars} are accepted", code="too_long"
            )

    def check_resolved(self, resolved: WorkerVideoMessage) -> None:
        """The request as the worker resolved it (defaults filled in) against these limits."""
        width, height = (int(side) for side in (resolved.size or "0x0").split("x"))
        checks = [
            ("num_frames", resolved.num_frames, self.max_frames, "frames"),
            ("size", width * height, self.max_pixels, "pixels"),
            ("num_inference_steps", resolved.num_inference_steps, self.max_steps, "steps"),
        ]
        for param, value, limit, unit in checks:
            if limit is not None and value is not None and value > limit:
                raise RequestFieldError(param, f"{param}: {value} {unit} is over this server's limit of {limit}", code="over_limit")


class TooManyJobs(Exception):
    def __init__(self, limit: int):
        super().__init__(f"this API key's tenant already has {limit} unfinished jobs, as many as it may")
        self.limit = limit


class StoreUnavailable(Exception):
    """The job store could not be reached."""


class WorkerRejected(Exception):
    """The worker refused the request (before any work); `body` says which field and why."""

    def __init__(self, body: ErrorBody):
        super().__init__(body.message)
        self.body = body


@dataclass
class SyncResult:
    record: JobRecord
    final: WorkerVideoMessage | None


def _error_from(message: WorkerVideoMessage, worker: str) -> VideoJobError:
    """The job error for a worker's own `failed` answer; never an empty message."""
    detail = message.error_detail
    said = (message.error or (detail.message if detail else "") or "").strip()
    if not said or said.endswith(":"):
        said = f"{said} (the worker gave no reason)" if said else f"worker {worker} failed the job without saying why"
    return VideoJobError(
        code=(detail.code if detail and detail.code else codes.GENERATION_FAILED),
        message=said,
        param=detail.param if detail else None,
    )


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _runtime_item(message: Any) -> str:
    """What a stream item that is not a worker message says (the runtime's own error items)."""
    text = str(message).strip()
    return text[:300] if text else f"an empty {type(message).__name__}"


def _cancelled(record: JobRecord, reason: str) -> JobRecord:
    return record.model_copy(
        update={
            "status": "failed",
            "stage": None,
            "completed_at": time.time(),
            "error": VideoJobError(code=codes.CANCELLED, message=reason),
        }
    )


class JobManager:
    def __init__(
        self,
        store: JobStore,
        directory: WorkerDirectory,
        settings: JobSettings = JobSettings(),
        limits: RequestLimits = RequestLimits(),
        metrics: FrontendMetrics | None = None,
    ):
        self.store = store
        self.metrics = metrics or FrontendMetrics()
        self.directory = directory
        self.settings = settings
        self.limits = limits
        self.replica_id = uuid.uuid4().hex[:12]
        # Jobs this replica runs: waiting in its queues or dispatched to a worker.
        self._local: dict[str, JobRecord] = {}
        self._queues: dict[str, collections.deque[str]] = {}
        self._queued: dict[str, asyncio.Event] = {}
        self._dispatchers: dict[str, asyncio.Task] = {}
        self._contexts: dict[str, Context] = {}
        # Per worker instance: jobs generating there, and jobs there at all (generating or finishing).
        self._busy: collections.Counter[int] = collections.Counter()
        self._held: collections.Counter[int] = collections.Counter()
        self._enqueued_at: dict[str, float] = {}
        self._turns: collections.Counter[str] = collections.Counter()
        self._slot_freed = asyncio.Event()
        self._last_write: dict[str, float] = {}
        self._subscribers: dict[str, set[asyncio.Queue]] = collections.defaultdict(set)
        self._sync_waiters: dict[str, asyncio.Future[SyncResult]] = {}
        self._tasks: list[asyncio.Task] = []
        self._seen_replicas: set[str] = set()
        self._takeover_rounds = 0
        self.admission = Admission(settings.queue_per_worker)
        self._accepting = True
        # Records whose last write failed (store unreachable), written again by the heartbeat loop.
        self._unsaved: dict[str, JobRecord] = {}
        # Submissions past their admission checks but not yet queued, so a burst cannot pass the
        # checks all at once while the first ones wait for their request check.
        self._admitting: collections.Counter[str] = collections.Counter()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.heartbeat(self.replica_id)
        for loop in (self._heartbeat_loop, self._changes_loop, self._takeover_loop, self._sweep_loop):
            self._tasks.append(asyncio.ensure_future(loop()))
        log.info("job manager up: replica %s", self.replica_id)

    async def close(self) -> None:
        for task in [*self._tasks, *self._dispatchers.values()]:
            task.cancel()
        for context in self._contexts.values():
            context.stop_generating()

    async def _forever(self, name: str, interval: float, step) -> None:
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:  # one failed round (store unreachable) must not end the loop
                log.exception("%s failed; trying again in %.0fs", name, interval)
            await asyncio.sleep(interval)

    async def _heartbeat_loop(self) -> None:
        async def beat() -> None:
            await self.store.heartbeat(self.replica_id)
            for job_id, record in list(self._unsaved.items()):
                # False means deleted or taken over meanwhile: nothing left to write either way.
                await self.store.put(record, expect_owner=self.replica_id)
                self._unsaved.pop(job_id, None)
                log.info("job %s written to the store again", job_id)

        await self._forever("heartbeat", self.settings.heartbeat_interval_s, beat)

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
        for record in list(self._unsaved.values()):
            with contextlib.suppress(Exception):
                await self.store.put(record, expect_owner=self.replica_id)

    # -- creating -----------------------------------------------------------------------------

    async def submit(
        self, body: VideoRequestBase, kind: str = "job", tenant: str | None = None, **wire_fields: Any
    ) -> JobRecord:
        """Check the request with a worker of its model and queue it. Raises RequestFieldError,
        WorkerRejected, QueueFull, TooManyJobs, StoreUnavailable, or the directory's
        NoWorkerError / UnknownModelError."""
        if not self._accepting:
            raise StoreUnavailable("this frontend is shutting down")
        self.limits.check_prompt(body.prompt)
        body.knobs()  # a conflicting top-level/nvext pair is refused here
        model, instance = self.directory.route(body.model)
        workers = len(self.directory.models()[model].instances)
        try:
            self.admission.check(model, self.unfinished(model) + self._admitting[model], workers)
        except QueueFull:
            self.metrics.jobs_rejected.labels(model, "queue_full").inc()
            raise
        # Reserved before the first await: a concurrent submission counts this one.
        reserved = [model, f"tenant:{tenant}"]
        self._admitting.update(reserved)
        try:
            quota = self.limits.max_jobs_per_key
            if quota and tenant is not None and await self.tenant_unfinished(tenant) + self._admitting[reserved[1]] > quota:
                self.metrics.jobs_rejected.labels(model, "key_limit").inc()
                raise TooManyJobs(quota)
            return await self._admit(body, kind, tenant, model, instance, wire_fields)
        finally:
            self._admitting.subtract(reserved)

    async def tenant_unfinished(self, tenant: str) -> int:
        """Unfinished jobs of a tenant on every replica: read from the store, which all share
        (one read of every record per submission, only where a quota is set)."""
        try:
            records = await self.store.all()
        except Exception as error:
            raise StoreUnavailable(f"the job store is unreachable: {error}") from error
        return sum(1 for record in records if record.tenant == tenant and not record.terminal)

    async def _admit(
        self, body: VideoRequestBase, kind: str, tenant: str | None, model: str, instance: WorkerInstance, wire_fields: dict
    ) -> JobRecord:
        job_id = f"video_{uuid.uuid4().hex}"
        # The worker always stores its outputs and answers with references: a video never
        # crosses the request plane, whatever its size (base64 is assembled by the frontend).
        wire = body.model_dump(mode="json", exclude_none=True) | {
            "model": model,
            "request_id": job_id,
            "response_format": "url",
            # Previews are for the jobs API (its /content variants); a synchronous caller gets its video.
            "extra_outputs": EXTRA_OUTPUTS if kind == "job" else [],
        } | wire_fields
        resolved = await self._validate(wire, model, instance)
        self.limits.check_resolved(resolved)
        # Pin the seed: a job started again after its frontend died makes the same video.
        wire["seed"] = resolved.seed
        if isinstance(wire.get("nvext"), dict):
            wire["nvext"].pop("seed", None)
        fps, frames = resolved.fps, resolved.num_frames
        record = JobRecord(
            id=job_id,
            model=model,
            kind=kind,
            created_at=time.time(),
            prompt=body.prompt,
            seconds=f"{body.seconds:g}" if body.seconds else f"{round(frames / fps, 2):g}",
            size=resolved.size,
            num_frames=frames,
            fps=fps,
            seed=resolved.seed,
            request=wire,
            owner=self.replica_id,
            tenant=tenant,
        )
        try:
            await self.store.create(record)
        except Exception as error:
            raise StoreUnavailable(f"the job store is unreachable: {error}") from error
        if kind == "sync":
            self._sync_waiters[job_id] = asyncio.get_running_loop().create_future()
        self._enqueue(record)
        self.metrics.jobs_admitted.labels(model, kind).inc()
        return record

    def unfinished(self, model: str) -> int:
        """Jobs of the model this replica holds, queued or running."""
        return sum(1 for record in self._local.values() if record.model == model)

    def live_state(self) -> dict[str, tuple[int, int, int]]:
        """model -> (jobs queued here, jobs running from here, live workers), for /metrics."""
        served = self.directory.models()
        running = collections.Counter(self._local[job_id].model for job_id in self._contexts if job_id in self._local)
        return {
            model: (self.queue_depth(model), running[model], len(served[model].instances) if model in served else 0)
            for model in set(served) | set(self._queues)
        }

    async def _validate(self, wire: dict, model: str, instance: WorkerInstance) -> WorkerVideoMessage:
        """The request as a worker of the model resolves it. A worker that cannot be reached is
        marked lost and the next one is asked; NoWorkerError when none is left."""
        while True:
            try:
                answer = await self._check_with(wire, instance)
            except Exception as error:
                self.directory.mark_lost(instance.instance_id, f"the request check failed: {_describe(error)}")
                _, instance = self.directory.route(model)
                continue
            if answer.status == "failed":
                detail = answer.error_detail
                if detail is not None and detail.code == codes.WORKER_DRAINING:
                    self.directory.mark_lost(instance.instance_id, "it is shutting down")
                    _, instance = self.directory.route(model)
                    continue
                raise WorkerRejected(detail or ErrorBody(message=answer.error or "refused", type="invalid_request_error"))
            return answer

    async def _check_with(self, wire: dict, instance: WorkerInstance) -> WorkerVideoMessage:
        answer = None
        async for message in self.directory.generate(wire | {"validate_only": True}, instance.instance_id):
            answer = WorkerVideoMessage.model_validate(message)
        if answer is None:
            raise RuntimeError("the worker did not answer the request check")
        return answer

    # -- queue and dispatch -------------------------------------------------------------------

    def _enqueue(self, record: JobRecord, first: bool = False) -> None:
        self._local[record.id] = record
        self._enqueued_at[record.id] = time.monotonic()
        queue = self._queues.setdefault(record.model, collections.deque())
        queue.appendleft(record.id) if first else queue.append(record.id)
        self._queued.setdefault(record.model, asyncio.Event()).set()
        if record.model not in self._dispatchers or self._dispatchers[record.model].done():
            self._dispatchers[record.model] = asyncio.ensure_future(self._dispatch(record.model))

    async def _dispatch(self, model: str) -> None:
        queue, queued = self._queues[model], self._queued[model]
        while True:
            while not queue:
                queued.clear()
                await queued.wait()
            instance = await self._idle_instance(model)
            if instance is None:
                await self._fail_queued(
                    model, codes.NO_LIVE_WORKER,
                    f"no live worker served {model} for {self.settings.no_worker_timeout_s:g}s while the job waited",
                )  # fmt: skip
                continue
            job_id = queue.popleft()
            enqueued_at = self._enqueued_at.pop(job_id, None)
            if job_id not in self._local:
                continue  # deleted while queued
            if enqueued_at is not None:
                self.metrics.stage_seconds.labels(model, "queue_wait").observe(time.monotonic() - enqueued_at)
            self._busy[instance.instance_id] += 1
            self._held[instance.instance_id] += 1
            asyncio.ensure_future(self._run(job_id, instance))

    async def _idle_instance(self, model: str) -> WorkerInstance | None:
        """A live worker of the model with no job of ours (round-robin among idle ones); waits
        for one. None when the model has had no live worker for no_worker_timeout_s."""
        last_seen = time.monotonic()
        while True:
            now = time.monotonic()
            served = self.directory.models().get(model)
            live = served.instances if served else []
            if live:
                last_seen = now
            elif now - last_seen > self.settings.no_worker_timeout_s:
                return None
            # Free for a job: nothing generating there but a job about to end its generation, and
            # at most one more job still being encoded or stored.
            idle = [
                instance
                for instance in live
                if not self._busy[instance.instance_id] and self._held[instance.instance_id] < 3
            ]
            if idle:
                self._turns[model] += 1
                return idle[self._turns[model] % len(idle)]
            self._slot_freed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                # New workers appear without a signal, so look again now and then.
                await asyncio.wait_for(self._slot_freed.wait(), timeout=0.25)

    async def _fail_queued(self, model: str, code: str, message: str) -> None:
        queue = self._queues[model]
        while queue:
            job_id = queue.popleft()
            self._enqueued_at.pop(job_id, None)
            record = self._local.pop(job_id, None)
            if record is None:
                continue
            record.status, record.stage, record.completed_at = "failed", None, time.time()
            record.error = VideoJobError(code=code, message=message)
            self._count_end(record)
            await self._save(record, force=True)
            self._resolve_waiter(record.id, record)
            log.warning("job %s failed: %s", record.id, message)

    def queue_depth(self, model: str) -> int:
        return len(self._queues.get(model, ()))

    async def _run(self, job_id: str, instance: WorkerInstance) -> None:
        record = self._local[job_id]
        context = Context()
        self._contexts[job_id] = context
        worker = f"{instance.instance_id:x}"
        record.status, record.stage, record.progress = "in_progress", "dispatched", 0
        record.started_at, record.worker = time.time(), worker
        record.attempts += 1
        final: WorkerVideoMessage | None = None
        # What showed that the worker is gone, if it is: an exception from the request plane, an
        # item that is no worker message (the runtime's own error), an answer that ended with no
        # result, or silence.
        lost: str | None = None
        generating = True

        def generator_freed() -> None:
            nonlocal generating
            if generating:
                generating = False
                self._busy[instance.instance_id] -= 1
                self._slot_freed.set()

        try:
            await self._save(record, force=True)
            stream = self.directory.generate(record.request | {"stream": True}, instance.instance_id, context)
            while True:
                try:
                    message = await asyncio.wait_for(anext(stream), timeout=self.settings.stall_timeout_s)
                except StopAsyncIteration:
                    break
                except asyncio.TimeoutError:
                    context.stop_generating()
                    lost = f"it said nothing for {self.settings.stall_timeout_s:g}s"
                    break
                try:
                    update = WorkerVideoMessage.model_validate(message)
                except ValidationError:
                    lost = f"the request plane reported: {_runtime_item(message)}"
                    break
                if update.status != "in_progress":
                    final = update
                elif update.stage == "keepalive":
                    # A long stage without steps: what changed since the last write reaches the store now.
                    await self._save(record)
                else:
                    if generation_ending(update):
                        generator_freed()
                    record.progress = max(record.progress, min(update.progress, 99))
                    record.stage = update.stage
                    # Followers here see every change at once; the store gets a few a second.
                    await self._save(record)
        except Exception as error:  # the request plane reports a broken connection as an exception
            lost = f"its connection failed ({_describe(error)})"
        finally:
            generator_freed()
            self._held[instance.instance_id] -= 1
            self._contexts.pop(job_id, None)
            self._slot_freed.set()
        if job_id not in self._local:
            # Deleted or abandoned meanwhile; a video that still got stored goes too.
            if final is not None:
                await outputs.delete(self._output_urls(final))
            return
        if final is not None:
            lost = None  # the worker answered; a connection that broke after that lost nothing
        elif lost is None:
            lost = "its answer ended without a result"
        draining = final is not None and final.error_detail is not None and final.error_detail.code == codes.WORKER_DRAINING
        if lost is not None or draining:
            stage = record.stage if record.stage not in (None, "dispatched") else "the start"
            why = lost or "it is shutting down"
            self.directory.mark_lost(instance.instance_id, why)
            if draining:
                record.attempts -= 1  # it never started there
            loss = f"worker {worker} was lost during {stage}: {why}"
            retry = draining or (record.attempts < self.settings.max_attempts and self._other_worker(record.model))
            if retry:
                if not draining:
                    record.earlier_loss = loss
                # Nothing was produced: run it again elsewhere (same id, same seed).
                log.warning("job %s: worker %s lost during %s (%s); running it again", job_id, worker, stage, why)
                record.status, record.stage, record.progress = "queued", "retrying", 0
                if await self._save(record, force=True):
                    self._enqueue(record, first=True)
                return
            if record.attempts >= self.settings.max_attempts:
                after = f"it had run {record.attempts} times, the most a job may"
                if record.earlier_loss:
                    after += f" (before: {record.earlier_loss})"
            else:
                after = f"no other live worker serves {record.model}"
            record.error = VideoJobError(code=codes.WORKER_LOST, message=f"{loss}; {after}")
        self._finish(record, final)
        if record.status == "completed" and record.started_at:
            self.admission.record_service(record.model, record.completed_at - record.started_at)
        if final is not None and final.timings:
            self.metrics.observe_stages(record.model, final.timings)
        self._count_end(record)
        saved = await self._save(record, force=True)
        self._local.pop(job_id, None)
        self._last_write.pop(job_id, None)
        if not saved and final is not None:
            await outputs.delete(self._output_urls(final))
        waiter = self._sync_waiters.pop(job_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(SyncResult(record, final))

    def _other_worker(self, model: str) -> bool:
        """A live worker of the model is listed (lost ones are not)."""
        served = self.directory.models().get(model)
        return bool(served and served.instances)

    def _count_end(self, record: JobRecord) -> None:
        code = record.error.code if record.error else ""
        self.metrics.jobs_finished.labels(record.model, record.status, code).inc()
        self.metrics.job_seconds.labels(record.model, record.status).observe(time.time() - record.created_at)

    @staticmethod
    def _output_urls(message: WorkerVideoMessage) -> list[str]:
        urls = [item.url for item in message.data if item.url]
        return urls + [url for url in (message.thumbnail_url, message.spritesheet_url) if url]

    def _finish(self, record: JobRecord, final: WorkerVideoMessage | None) -> None:
        """Set the record's end: completed with its outputs, or failed with a code and a reason
        (record.error already set by the caller, or the worker's own answer)."""
        now = time.time()
        record.completed_at = now
        if final is not None and final.status == "completed":
            record.status, record.progress, record.stage = "completed", 100, None
            record.expires_at = now + self.settings.ttl_s
            record.inference_time_s = final.inference_time_s
            video_url = final.data[0].url if final.data else None
            record.outputs = {
                variant: url
                for variant, url in (("video", video_url), ("thumbnail", final.thumbnail_url), ("spritesheet", final.spritesheet_url))
                if url
            }
            if video_url is None:
                record.status, record.outputs = "failed", {}
                record.error = VideoJobError(
                    code=codes.GENERATION_FAILED, message=f"worker {record.worker} answered without a stored video"
                )
            else:
                return
        record.status, record.stage = "failed", None
        if record.error is None:
            record.error = _error_from(final, record.worker or "?") if final is not None else VideoJobError(
                code=codes.GENERATION_FAILED, message=f"worker {record.worker} ended the job without a result"
            )
        log.info("job %s failed (%s): %s", record.id, record.error.code, record.error.message)

    async def _save(self, record: JobRecord, force: bool = False) -> bool:
        """Publish to local followers at once; write to the store (throttled unless forced).
        False when the record is no longer ours (deleted, or taken over): the work stops."""
        self._publish(record.id, record)
        now = time.monotonic()
        if not force and now - self._last_write.get(record.id, 0.0) < self.settings.progress_write_interval_s:
            return True
        self._last_write[record.id] = now
        try:
            if await self.store.put(record, expect_owner=self.replica_id):
                self._unsaved.pop(record.id, None)
                return True
        except Exception as error:  # store down: keep working; the heartbeat loop writes it again
            log.warning("job %s: store write failed (%s); will write again", record.id, error)
            self._unsaved[record.id] = record
            return True
        self._unsaved.pop(record.id, None)
        self._stop_local(record.id)
        return False

    # -- cancelling ---------------------------------------------------------------------------

    def _stop_local(self, job_id: str) -> None:
        """Forget a local job: out of its queue, or its worker told to stop at the next step."""
        record = self._local.pop(job_id, None)
        self._enqueued_at.pop(job_id, None)
        if record is not None and job_id in self._queues.get(record.model, ()):
            self._queues[record.model].remove(job_id)
        context = self._contexts.get(job_id)
        if context is not None:
            context.stop_generating()

    async def delete(self, job_id: str) -> bool:
        """DELETE /v1/videos/{id}: stop the work wherever it runs, delete the record and outputs."""
        record = await self.get(job_id)
        if record is None:
            return False
        try:
            await self.store.delete(job_id)
        except Exception as error:
            raise StoreUnavailable(f"the job store is unreachable: {error}") from error
        if job_id in self._local:
            self._count_end(_cancelled(record, "deleted"))
        self._stop_local(job_id)
        self._unsaved.pop(job_id, None)
        await outputs.delete(list(record.outputs.values()))
        self._publish(job_id, None)
        self._resolve_waiter(job_id, _cancelled(record, "the video was deleted"))
        log.info("job %s deleted (was %s)", job_id, record.status)
        return True

    async def abandon(self, job_id: str, reason: str) -> None:
        """Stop a job nobody waits for any more (its synchronous client went away)."""
        record = self._local.get(job_id)
        if record is None:
            return
        self._stop_local(job_id)
        record = _cancelled(record, reason)
        self._count_end(record)
        await self.store.put(record, expect_owner=self.replica_id)
        self._publish(job_id, record)
        self._resolve_waiter(job_id, record)
        log.info("job %s cancelled: %s", job_id, reason)

    def _resolve_waiter(self, job_id: str, record: JobRecord) -> None:
        waiter = self._sync_waiters.pop(job_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(SyncResult(record, None))

    async def wait(self, job_id: str) -> SyncResult:
        return await self._sync_waiters[job_id]

    # -- reading and following ----------------------------------------------------------------

    async def get(self, job_id: str) -> JobRecord | None:
        local = self._local.get(job_id) or self._unsaved.get(job_id)
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

    def _publish(self, job_id: str, record: JobRecord | None) -> None:
        followers = self._subscribers.get(job_id)
        if not followers:
            return
        snapshot = record.model_copy(deep=True) if record is not None else None
        for queue in followers:
            queue.put_nowait(snapshot)

    async def follow(self, job_id: str) -> AsyncIterator[JobRecord | None]:
        """The job's record now, then every change until it ends (None: it was deleted)."""
        queue: asyncio.Queue[JobRecord | None] = asyncio.Queue()
        self._subscribers[job_id].add(queue)
        try:
            current = await self.get(job_id)
            yield current
            if current is None or current.terminal:
                return
            while True:
                record = await queue.get()
                yield record
                if record is None or record.terminal:
                    return
        finally:
            self._subscribers[job_id].discard(queue)
            if not self._subscribers[job_id]:
                del self._subscribers[job_id]

    async def _changes_loop(self) -> None:
        """Writes of other replicas: follow remote jobs, and stop local work deleted elsewhere."""
        while True:
            try:
                async for change in self.store.changes():
                    local = self._local.get(change.job_id)
                    if local is not None:
                        if change.record is None or change.record.owner != self.replica_id:
                            log.info("job %s deleted or taken over elsewhere; stopping it here", change.job_id)
                            self._stop_local(change.job_id)
                            self._publish(change.job_id, change.record)
                            self._resolve_waiter(change.job_id, _cancelled(local, "deleted or taken over by another frontend"))
                        continue
                    if change.job_id in self._subscribers:
                        self._publish(change.job_id, change.record)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job change feed failed; following it again")
                await asyncio.sleep(1)

    # -- other replicas' jobs, and expiry -----------------------------------------------------

    async def _takeover_loop(self) -> None:
        await self._forever("takeover", self.settings.takeover_interval_s, self.take_over_orphans)

    async def take_over_orphans(self) -> None:
        """Jobs whose owner replica stopped heart-beating: run them here (once more at most).

        Reading every record is the expensive part, so it happens when a replica has gone
        silent since the last look, and otherwise only every tenth round."""
        live = await self.store.live_replicas() | {self.replica_id}
        self._takeover_rounds += 1
        someone_left = bool(self._seen_replicas - live)
        self._seen_replicas = live
        if not someone_left and self._takeover_rounds % 10 != 1:
            return
        for record in await self.store.all():
            if record.terminal or record.owner in live:
                continue
            previous = record.owner
            record.owner = self.replica_id
            if record.kind == "sync" or record.attempts >= self.settings.max_attempts:
                record.status, record.stage, record.completed_at = "failed", None, time.time()
                why = "its client waited on that frontend" if record.kind == "sync" else f"after {record.attempts} attempts"
                record.error = VideoJobError(
                    code="owner_lost", message=f"the frontend replica running this job stopped ({why}); submit it again"
                )
            else:
                record.status, record.stage, record.progress = "queued", "requeued", 0
            if await self.store.put(record, expect_owner=previous):
                log.warning("took over job %s from stopped replica %s: now %s", record.id, previous, record.status)
                if record.status == "queued":
                    self._enqueue(record)

    async def _sweep_loop(self) -> None:
        await self._forever("sweep", self.settings.sweep_interval_s, self.sweep)

    async def sweep(self) -> None:
        """Delete outputs past expires_at, and records past their retention."""
        now = time.time()
        for record in await self.store.all():
            if record.expires_at is None or now < record.expires_at:
                continue
            if now >= record.expires_at + self.settings.record_retention_s:
                await self.store.delete(record.id)
                log.info("job %s record removed (expired at %d)", record.id, record.expires_at)
            elif not record.expired:
                await self.expire(record)

    async def expire(self, record: JobRecord) -> None:
        urls = list(record.outputs.values())
        await outputs.delete(urls)
        record.expired, record.outputs = True, {}
        await self.store.put(record)
        log.info("job %s expired: deleted %s", record.id, ", ".join(urls) or "nothing")

"""Taking a request in: this deployment's limits, the model's admission bound, the tenant's
quota, and the request check with a worker of the model; then the job's record in the store."""

from __future__ import annotations

import collections
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from framecast.frontend.discovery import WorkerInstance
from framecast.frontend.jobs.admission import Admission, QueueFull
from framecast.frontend.jobs.outcome import describe
from framecast.frontend.jobs.record import JobRecord
from framecast.frontend.jobs.settings import RequestLimits
from framecast.frontend.jobs.store import JobQuery, JobStore, StoreUnavailable
from framecast.frontend.metrics import FrontendMetrics
from framecast.protocol.adapters import adapter_names
from framecast.protocol import (
    ErrorBody,
    ErrorCode,
    ImageEditRequest,
    ImageGenerationRequest,
    VideoRequestBase,
    WebhookTarget,
    WorkerVideoMessage,
    WorkerVideoRequest,
)

# What a client may ask for: a video (either route) or images.
JobRequest = VideoRequestBase | ImageGenerationRequest

EXTRA_OUTPUTS = ["thumbnail", "spritesheet"]


class TooManyJobs(Exception):
    def __init__(self, limit: int, model: str):
        super().__init__(f"this API key's tenant already has {limit} unfinished jobs of {model}, as many as it may")
        self.limit = limit


class WorkerRejected(Exception):
    """The worker refused the request (before any work); `body` says which field and why."""

    def __init__(self, body: ErrorBody):
        super().__init__(body.message)
        self.body = body


@dataclass
class Intake:
    _store: JobStore
    # The runtime's WorkerDirectory, or what stands in for it (route, models, generate, mark_lost).
    _directory: Any
    _admission: Admission
    _limits: RequestLimits
    _metrics: FrontendMetrics
    _replica_id: str
    # Jobs of a model this replica holds.
    _unfinished: Callable[[str], int]
    # Submissions past their admission checks but not yet queued, so a burst cannot pass the
    # checks all at once while the first ones wait for their request check.
    _admitting: collections.Counter[str] = field(default_factory=collections.Counter)

    async def admit(self, body: JobRequest, kind: str, tenant: str | None, webhook: WebhookTarget | None = None) -> JobRecord:
        """The job's record, created in the store. Raises RequestFieldError, WorkerRejected,
        QueueFull, TooManyJobs, StoreUnavailable, or the directory's NoWorkerError /
        UnknownModelError."""
        self._limits.check_prompt(body.prompt)
        if isinstance(body, VideoRequestBase):
            body.knobs()  # a conflicting top-level/nvext pair is refused here
        route = "video"
        if isinstance(body, ImageGenerationRequest):
            route = "edit" if isinstance(body, ImageEditRequest) else "image"
        model, instance = self._directory.route(body.model, adapter_names(body.lora), route)
        workers = len(self._directory.models()[model].instances)
        try:
            self._admission.check(model, self._unfinished(model) + self._admitting[model], workers)
        except QueueFull:
            self._metrics.jobs_rejected.labels(model, "queue_full").inc()
            raise
        # Reserved before the first await: a concurrent submission counts this one.
        reserved = [model, f"tenant:{tenant}:{model}"]
        self._admitting.update(reserved)
        try:
            quota = self._limits.max_jobs_per_key
            if quota and tenant is not None and await self.tenant_unfinished(tenant, model) + self._admitting[reserved[1]] > quota:
                self._metrics.jobs_rejected.labels(model, "key_limit").inc()
                raise TooManyJobs(quota, model)
            return await self._create(body, kind, tenant, model, instance, webhook)
        finally:
            self._admitting.subtract(reserved)

    async def tenant_unfinished(self, tenant: str, model: str) -> int:
        """A tenant's unfinished jobs of one model on every replica (the quota is per model, as
        admission and queues are): read from the store, which all share (one read of every
        record per submission, only where a quota is set)."""
        try:
            return len(await self._store.find(JobQuery(unfinished=True, tenant=tenant, model=model)))
        except Exception as error:
            raise StoreUnavailable(f"the job store is unreachable: {error}") from error

    async def _create(
        self, body: JobRequest, kind: str, tenant: str | None, model: str, instance: WorkerInstance,
        webhook: WebhookTarget | None,
    ) -> JobRecord:  # fmt: skip
        fields = body.worker_fields()
        job_id = f"{fields.get('task', 'video')}_{uuid.uuid4().hex}"
        # The worker always stores its outputs and answers with references: a video never
        # crosses the request plane, whatever its size (base64 is assembled by the frontend).
        request = WorkerVideoRequest.model_validate(
            fields
            | {
                "model": model,
                "request_id": job_id,
                "response_format": "url",
                # Previews are for the jobs API (its /content variants); a synchronous caller gets its video.
                "extra_outputs": EXTRA_OUTPUTS if kind == "job" else [],
            }
        )
        resolved = await self._check(request, model, instance)
        self._limits.check_resolved(resolved)
        # Pin the seed: a job started again after its frontend died makes the same video.
        nvext = request.nvext.model_copy(update={"seed": None}) if request.nvext else None
        request = request.model_copy(update={"seed": resolved.seed, "nvext": nvext})
        fps, frames = resolved.fps, resolved.num_frames
        record = JobRecord(
            id=job_id,
            model=model,
            kind=kind,
            created_at=time.time(),
            prompt=body.prompt,
            seconds=f"{seconds:g}" if (seconds := getattr(body, "seconds", None)) else f"{round(frames / fps, 2):g}",
            size=resolved.size,
            num_frames=frames,
            fps=fps,
            seed=resolved.seed,
            request=request,
            owner=self._replica_id,
            tenant=tenant,
            remixed_from_video_id=getattr(body, "remixed_from_video_id", None),
            webhook=webhook,
        )
        try:
            await self._store.create(record)
        except Exception as error:
            raise StoreUnavailable(f"the job store is unreachable: {error}") from error
        self._metrics.jobs_admitted.labels(model, kind).inc()
        return record

    async def _check(self, request: WorkerVideoRequest, model: str, instance: WorkerInstance) -> WorkerVideoMessage:
        """The request as a worker of the model resolves it. A worker that cannot be reached is
        marked lost and the next one is asked; NoWorkerError when none is left."""
        while True:
            try:
                answer = await self._check_with(request, instance)
            except Exception as error:
                self._directory.mark_lost(instance.instance_id, f"the request check failed: {describe(error)}")
                _, instance = self._directory.route(model, adapter_names(request.lora))
                continue
            if answer.status == "failed":
                detail = answer.error_detail
                if detail is not None and detail.code == ErrorCode.WORKER_DRAINING:
                    self._directory.mark_lost(instance.instance_id, "it is shutting down")
                    _, instance = self._directory.route(model, adapter_names(request.lora))
                    continue
                raise WorkerRejected(detail or ErrorBody(message=answer.error or "refused", type="invalid_request_error"))
            return answer

    async def _check_with(self, request: WorkerVideoRequest, instance: WorkerInstance) -> WorkerVideoMessage:
        answer = None
        async for message in self._directory.generate(request.wire(validate_only=True), instance.instance_id):
            answer = WorkerVideoMessage.model_validate(message)
        if answer is None:
            raise RuntimeError("the worker did not answer the request check")
        self._directory.note_adapters(instance.instance_id, answer.adapters_loaded)
        return answer

"""What the video routes do, apart from HTTP: take a request to the job engine, read and list
jobs as the caller's tenant may see them, and turn every refusal into an ApiError whose code
says what happened. The routes in videos.py only parse and answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Literal

from framecast.frontend import outputs
from framecast.frontend.discovery import NoWorkerError, UnknownModelError
from framecast.frontend.errors import ApiError
from framecast.frontend.inputs import InputStore
from framecast.frontend.jobs.events import SyncResult
from framecast.frontend.jobs.intake import JobRequest, WorkerRejected
from framecast.frontend.jobs.manager import JobManager
from framecast.frontend.jobs.record import JobRecord
from framecast.frontend.jobs.store import page
from framecast.frontend.security import Caller
from framecast.frontend.webhooks import WebhookTargets
from framecast.protocol import (
    ErrorCode,
    ImageEditRequest,
    RequestFieldError,
    VideoDeleted,
    VideoJobError,
    VideoJobList,
    VideoRemixJob,
    VideoRemixRequest,
    WebhookFields,
)

log = logging.getLogger(__name__)

_VIDEO_ID = re.compile(r"video_[0-9a-f]{32}")
_IMAGE_ID = re.compile(r"image_[0-9a-f]{32}")


def _not_found(video_id: str) -> ApiError:
    return ApiError(ErrorCode.VIDEO_NOT_FOUND, f"no video {video_id!r}", param="video_id")


class VideoService:
    def __init__(self, jobs: JobManager, inputs: InputStore, webhooks: WebhookTargets):
        self.jobs = jobs
        self.inputs = inputs
        self.webhooks = webhooks

    @property
    def poll_after_ms(self) -> int:
        return self.jobs.settings.poll_after_ms

    # -- creating -----------------------------------------------------------------------------

    async def create(self, body: JobRequest, kind: str, caller: Caller | None, upload: bytes | None = None) -> JobRecord:
        """A new job; `upload` is an input image sent as a file. Refusals of the job engine that
        are not ApiErrors (QueueFull, TooManyJobs, StoreUnavailable, RequestFieldError) are
        answered by the app's error handlers."""
        # A job's webhook (the request's, or its tenant's default) is checked before anything is fetched.
        webhook = await self.webhooks.target(body, caller) if kind == "job" and isinstance(body, WebhookFields) else None
        with _routing_errors():
            staged = await self._stage_input(body, upload)
            if staged is not None:
                body = body.model_copy(update={"input_reference": staged})
            try:
                return await self.jobs.submit(body, kind, tenant=caller.tenant if caller else None, webhook=webhook)
            except BaseException:
                if staged is not None:
                    await outputs.delete([staged])
                raise

    async def remix(self, video_id: str, body: VideoRemixRequest, caller: Caller | None) -> JobRecord:
        """A job remaking a completed video the caller may see, by its model: the source's size,
        frames, fps and seed unless the request sets them."""
        source = await self.retrieve(video_id, caller)
        source_url = await self._output_of(source, "video")
        with _routing_errors():
            target = self.jobs.directory.served_model(source.model, "video")
        tasks = target.instances[0].card.tasks
        if "v2v" not in tasks:
            raise RequestFieldError(
                "model", f"{target.name} (the model of {video_id}) makes no video from another one, so it cannot remix; "
                "models that can list v2v among their tasks in GET /v1/models",
                code=ErrorCode.UNSUPPORTED_VALUE,
            )  # fmt: skip
        asked = body.model_dump(exclude_none=True, exclude={"model", "input_reference"})
        # A duration asked for replaces the source's frame count (frames follow from it).
        kept = {"size": source.size, "fps": source.fps, "seed": source.seed}
        if body.seconds is None:
            kept["num_frames"] = source.num_frames
        # A knob under nvext is the request's own: the source's stays out of its way.
        nested = body.nvext.model_dump(exclude_none=True) if body.nvext else {}
        job = VideoRemixJob.model_validate(
            {key: value for key, value in kept.items() if value is not None and key not in nested}
            | asked
            | {"model": source.model, "input_video": source_url, "remixed_from_video_id": source.id}
        )
        return await self.create(job, "job", caller)

    async def edit(
        self, body: ImageEditRequest, uploads: list[bytes], mask_uploaded: bool, caller: Caller | None, gone: Awaitable[None]
    ) -> SyncResult:
        """Image edits: the model checked to edit images before anything is fetched, the image
        stored for the worker, then a synchronous generation."""
        with _routing_errors():
            target = self.jobs.directory.served_model(body.model, "edit")
        if body.mask is not None or mask_uploaded:
            raise RequestFieldError(
                "mask", f"{target.name} takes no mask: it edits the whole image as the prompt says",
                code=ErrorCode.UNSUPPORTED_VALUE,
            )  # fmt: skip
        sources: list[str | bytes] = [*uploads, *body.image]
        if not sources:
            raise RequestFieldError("image", "image is required: the image to edit", code=ErrorCode.MISSING_FIELD)
        if len(sources) > 1:
            raise RequestFieldError(
                "image", f"{target.name} edits one image at a time; got {len(sources)}", code=ErrorCode.UNSUPPORTED_VALUE
            )
        staged = await self.inputs.stage(sources[0], param="image")
        try:
            return await self.generate(body.model_copy(update={"image": [staged]}), caller, gone)
        except BaseException:
            # A job that was made deletes its input with it; one refused before that leaves it here.
            await outputs.delete([staged])
            raise

    async def _stage_input(self, body: JobRequest, upload: bytes | None) -> str | None:
        """The input image stored for the worker, once the model is known to take one (nothing
        is fetched for a model that would refuse it)."""
        if upload is None and getattr(body, "input_reference", None) is None:
            return None
        # Only a look at the model's card: the request check that follows takes the routing turn.
        target = self.jobs.directory.served_model(body.model, "video")
        tasks = target.instances[0].card.tasks
        if tasks and not {"i2v", "ti2v"} & set(tasks):
            raise RequestFieldError(
                "input_reference", f"{target.name} is a text-to-video model; it takes no input_reference",
                code=ErrorCode.UNSUPPORTED_VALUE,
            )  # fmt: skip
        return await self.inputs.stage(upload if upload is not None else body.input_reference)

    async def generate(
        self, body: JobRequest, caller: Caller | None, gone: Awaitable[None], upload: bytes | None = None
    ) -> SyncResult:
        """A synchronous generation: its result once the job ends, or an ApiError with the job's
        own code. `gone` completes when the client disconnects; the job is then cancelled (its
        worker stops at the next step)."""
        record = await self.create(body, "sync", caller, upload)
        waiter = asyncio.ensure_future(self.jobs.wait(record.id))
        listener = asyncio.ensure_future(gone)
        try:
            await asyncio.wait({waiter, listener}, return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():
                await self.jobs.abandon(record.id, "the client disconnected")
            result = await waiter
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        record = result.record
        if record.status != "completed" or result.final is None or not record.outputs:
            error = record.error or VideoJobError(code=ErrorCode.GENERATION_FAILED, message=f"{record.id} ended without an output")
            raise ApiError(error.code, error.message, param=error.param)
        return result

    # -- reading ------------------------------------------------------------------------------

    async def retrieve(self, video_id: str, caller: Caller | None) -> JobRecord:
        """The job, if the caller's tenant may see it. Another tenant's job is "not found", as a
        job that does not exist: the answer tells nothing of other tenants."""
        if not _VIDEO_ID.fullmatch(video_id):
            raise _not_found(video_id)
        record = await self.jobs.get(video_id)
        if record is None or not _visible(record, caller):
            raise _not_found(video_id)
        return record

    async def list(self, caller: Caller | None, after: str | None, limit: int, order: Literal["asc", "desc"]) -> VideoJobList:
        visible = [record for record in await self.jobs.all() if _visible(record, caller) and record.request.task != "image"]
        records, has_more = page(visible, after, limit, order)
        videos = [record.to_video() for record in records]
        return VideoJobList(
            data=videos,
            first_id=videos[0].id if videos else None,
            last_id=videos[-1].id if videos else None,
            has_more=has_more,
        )

    async def delete(self, video_id: str, caller: Caller | None) -> VideoDeleted:
        await self.retrieve(video_id, caller)
        if not await self.jobs.delete(video_id):
            raise _not_found(video_id)
        return VideoDeleted(id=video_id)

    async def stored_output(self, video_id: str, variant: str, caller: Caller | None) -> str:
        """The storage URL of a completed job's output."""
        return await self._output_of(await self.retrieve(video_id, caller), variant)

    async def _output_of(self, record: JobRecord, variant: str) -> str:
        video_id = record.id
        if record.status != "completed":
            detail = f": {record.error.message}" if record.error else ""
            message = f"video {video_id} is {record.status}{detail}; its content exists once it is completed"
            raise ApiError(ErrorCode.VIDEO_NOT_READY, message, param="video_id")
        if record.expired or (record.expires_at and time.time() >= record.expires_at):
            if not record.expired:
                await self.jobs.expire(record)
            raise ApiError(ErrorCode.VIDEO_EXPIRED, f"video {video_id} expired; its content is deleted", param="video_id")
        url = record.outputs.get(variant)
        if url is None:
            raise ApiError(ErrorCode.VARIANT_NOT_FOUND, f"video {video_id} has no {variant}", param="variant")
        return url

    async def stored_image(self, image_id: str, index: int, caller: Caller | None) -> str:
        """The storage URL of image `index` of a text-to-image request."""
        record = await self.jobs.get(image_id) if _IMAGE_ID.fullmatch(image_id) else None
        if record is None or not _visible(record, caller) or record.status != "completed":
            raise ApiError(ErrorCode.IMAGE_NOT_FOUND, f"no image {image_id!r}", param="image_id")
        if record.expired or (record.expires_at and time.time() >= record.expires_at):
            raise ApiError(ErrorCode.IMAGE_NOT_FOUND, f"image {image_id} expired; it is deleted", param="image_id")
        url = record.outputs.get(f"image_{index}")
        if url is None:
            raise ApiError(ErrorCode.VARIANT_NOT_FOUND, f"{image_id} has {len(record.outputs)} image(s); no index {index}", param="index")
        return url

    async def events(self, video_id: str, caller: Caller | None) -> AsyncIterator[dict]:
        """Server-sent events of a job the caller may see (checked before the first event): the
        video object at every change of status, progress or stage, until it ends or is deleted."""
        await self.retrieve(video_id, caller)
        return self._changes(video_id)

    async def _changes(self, video_id: str) -> AsyncIterator[dict]:
        last = None
        async for record in self.jobs.follow(video_id):
            if record is None:
                yield {"event": "deleted", "data": json.dumps({"id": video_id, "object": "video.deleted", "deleted": True})}
                return
            state = (record.status, record.progress, record.stage, record.step)
            if state != last:
                last = state
                yield {"event": "video", "data": record.to_video().model_dump_json()}


@contextlib.contextmanager
def _routing_errors() -> Iterator[None]:
    """The directory's refusals as the API's errors, each naming `model`."""
    try:
        yield
    except NoWorkerError as error:
        raise ApiError(ErrorCode.NO_LIVE_WORKER, f"{error}; try again when a worker is up", param="model") from None
    except UnknownModelError as error:
        if not error.model:
            served = ", ".join(error.served) or "none"
            what = f"; models for {error.route}s: {served}" if error.route else f": {served}"
            raise ApiError(ErrorCode.MISSING_FIELD, f"model is required: this server serves several models{what}", param="model") from None
        message = f"model {error.model!r} is not served here; served: {', '.join(error.served)}"
        raise ApiError(ErrorCode.MODEL_NOT_FOUND, message, param="model") from None
    except WorkerRejected as rejected:
        raise ApiError.from_body(rejected.body) from None


def _visible(record: JobRecord, caller: Caller | None) -> bool:
    return caller is None or caller.sees(record.tenant)

"""Video routes: the OpenAI Videos job API (`/v1/videos...`) and the synchronous
`POST /v1/videos/generations`, both on the same job machinery."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from sse_starlette.sse import EventSourceResponse
from starlette.datastructures import UploadFile

from framecast.frontend import outputs
from framecast.frontend.discovery import NoWorkerError, UnknownModelError
from framecast.frontend.errors import ApiError, validation_error_body
from framecast.frontend.jobs.admission import QueueFull
from framecast.frontend.jobs.codes import FIELD_ERROR_STATUS, GENERATION_FAILED, JOB_ERROR_CODES
from framecast.frontend.jobs.manager import JobManager, StoreUnavailable, TooManyJobs, WorkerRejected
from framecast.frontend.jobs.record import JobRecord
from framecast.frontend.jobs.store import page
from framecast.frontend.security import Caller
from framecast.frontend.urls import UrlPolicy
from framecast.protocol import (
    RequestFieldError,
    VideoCreateRequest,
    VideoDeleted,
    VideoGenerationRequest,
    VideoGenerationResponse,
    VideoJob,
    VideoJobError,
    VideoJobList,
    VideoRequestBase,
)

log = logging.getLogger(__name__)

router = APIRouter()

POLL_HEADER = "openai-poll-after-ms"
# The worker's refusal codes that are not about one field; job codes are in JOB_ERROR_CODES.
_STATUS_BY_CODE = {"model_not_found": 404}


def _manager(request: Request) -> JobManager:
    return request.app.state.jobs


def _caller(request: Request) -> Caller | None:
    """The tenant the request's API key speaks for; None when API keys are off."""
    return getattr(request.state, "caller", None)


def _visible(record: JobRecord, caller: Caller | None) -> bool:
    return caller is None or caller.sees(record.tenant)


async def _submit(request: Request, body: VideoRequestBase, kind: str, **wire: Any) -> JobRecord:
    manager = _manager(request)
    try:
        caller = _caller(request)
        return await manager.submit(body, kind, tenant=caller.tenant if caller else None, **wire)
    except NoWorkerError as error:
        raise ApiError(503, f"{error}; try again when a worker is up", param="model", code="no_live_worker") from None
    except UnknownModelError as error:
        if not error.model:
            raise ApiError(
                400, f"model is required: this server serves {', '.join(error.served)}", param="model", code="missing_field"
            ) from None
        raise ApiError(
            404, f"model {error.model!r} is not served here; served: {', '.join(error.served)}",
            param="model", code="model_not_found",
        ) from None  # fmt: skip
    except WorkerRejected as rejected:
        body = rejected.body
        status = _STATUS_BY_CODE.get(body.code or "", 400 if body.type == "invalid_request_error" else 502)
        raise ApiError(status, body.message, param=body.param, code=body.code) from None
    except (RequestFieldError, QueueFull, TooManyJobs, StoreUnavailable):
        raise  # answered by the app's error handlers


def _video_response(record: JobRecord, settings_poll_ms: int, status_code: int = 200) -> JSONResponse:
    headers = {} if record.terminal else {POLL_HEADER: str(settings_poll_ms)}
    return JSONResponse(record.to_video().model_dump(mode="json"), status_code=status_code, headers=headers)


# -- POST /v1/videos ----------------------------------------------------------------------------


def _form_to_body(form) -> dict[str, Any]:
    """Multipart fields as the JSON body would carry them ("nvext[fps]" -> {"nvext": {"fps": ...}})."""
    body: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            # Image inputs are refused by the worker with the field named; say what arrived.
            value = f"upload:{value.filename or 'file'}"
        if "[" in key and key.endswith("]"):
            outer, inner = key[:-1].split("[", 1)
            body.setdefault(outer, {})[inner] = value
        else:
            body[key] = value
    return body


def _create_schema() -> dict:
    """POST /v1/videos reads its body itself (JSON or multipart), so its schema is declared
    here; nested models refer to the components FastAPI publishes for the other routes."""
    schema = VideoCreateRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}, "multipart/form-data": {"schema": schema}},
        }
    }


_CREATE_SCHEMA = _create_schema()


@router.post("/v1/videos", openapi_extra=_CREATE_SCHEMA, response_model=VideoJob)
async def create_video(request: Request) -> JSONResponse:
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data") or content_type.startswith("application/x-www-form-urlencoded"):
            raw = _form_to_body(await request.form())
        else:
            raw = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "request body is not valid JSON", code="invalid_json") from None
    try:
        body = VideoCreateRequest.model_validate(raw)
    except ValidationError as error:
        raise ApiError.from_body(400, validation_error_body(error.errors())) from None
    record = await _submit(request, body, "job")
    return _video_response(record, _manager(request).settings.poll_after_ms)


# -- reading ------------------------------------------------------------------------------------


_VIDEO_ID = re.compile(r"video_[0-9a-f]{32}")


async def _existing(request: Request, video_id: str) -> JobRecord:
    """The job, if the caller's tenant may see it. Another tenant's job is "not found", as a
    job that does not exist: the answer tells nothing of other tenants."""
    if not _VIDEO_ID.fullmatch(video_id):
        raise ApiError(404, f"no video {video_id!r}", param="video_id", code="video_not_found")
    record = await _manager(request).get(video_id)
    if record is None or not _visible(record, _caller(request)):
        raise ApiError(404, f"no video {video_id!r}", param="video_id", code="video_not_found")
    return record


@router.get("/v1/videos/{video_id}", response_model=VideoJob)
async def retrieve_video(video_id: str, request: Request) -> JSONResponse:
    return _video_response(await _existing(request, video_id), _manager(request).settings.poll_after_ms)


@router.get("/v1/videos", response_model=VideoJobList)
async def list_videos(
    request: Request,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
) -> VideoJobList:
    caller = _caller(request)
    visible = [record for record in await _manager(request).all() if _visible(record, caller)]
    records, has_more = page(visible, after, limit, order)
    videos = [record.to_video() for record in records]
    return VideoJobList(
        data=videos,
        first_id=videos[0].id if videos else None,
        last_id=videos[-1].id if videos else None,
        has_more=has_more,
    )


@router.delete("/v1/videos/{video_id}", response_model=VideoDeleted)
async def delete_video(video_id: str, request: Request) -> VideoDeleted:
    await _existing(request, video_id)
    if not await _manager(request).delete(video_id):
        raise ApiError(404, f"no video {video_id!r}", param="video_id", code="video_not_found")
    return VideoDeleted(id=video_id)


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single-range `Range` header; None: send it all. Raises
    ApiError 416 when the range lies outside the content."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None  # several ranges, or a unit we do not serve: the whole content (RFC 9110)
    first, last = match.group(1), match.group(2)
    if not first:  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise ApiError(
            416, f"range {header!r} is outside the {size} bytes of this content", code="range_not_satisfiable",
            headers={"content-range": f"bytes */{size}"},
        )  # fmt: skip
    return start, end


async def _stored_output(request: Request, video_id: str, variant: str) -> str:
    manager = _manager(request)
    record = await _existing(request, video_id)
    if record.status != "completed":
        detail = f": {record.error.message}" if record.error else ""
        raise ApiError(
            409, f"video {video_id} is {record.status}{detail}; its content exists once it is completed",
            param="video_id", code="video_not_ready",
        )  # fmt: skip
    if record.expired or (record.expires_at and time.time() >= record.expires_at):
        if not record.expired:
            await manager.expire(record)
        raise ApiError(404, f"video {video_id} expired; its content is deleted", param="video_id", code="video_expired")
    url = record.outputs.get(variant)
    if url is None:
        raise ApiError(404, f"video {video_id} has no {variant}", param="variant", code="variant_not_found")
    return url


@router.api_route("/v1/videos/{video_id}/content", methods=["GET", "HEAD"])
async def download_video(
    video_id: str, request: Request, variant: Literal["video", "thumbnail", "spritesheet"] = "video"
) -> Response:
    """The stored file, streamed, with Range support (players seek with it)."""
    url = await _stored_output(request, video_id, variant)
    size = await outputs.size_of(url)
    if size is None:
        raise ApiError(404, f"the {variant} of video {video_id} is gone from storage", code="content_missing")
    headers = {
        "accept-ranges": "bytes",
        "content-disposition": f'inline; filename="{video_id}.{url.rsplit(".", 1)[-1]}"',
    }
    wanted = byte_range(request.headers.get("range"), size)
    media_type = outputs.CONTENT_TYPES[variant]
    if wanted is None:
        status, start, length = 200, 0, size
    else:
        start, end = wanted
        status, length = 206, end - start + 1
        headers["content-range"] = f"bytes {start}-{end}/{size}"
    headers["content-length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    body = outputs.read_chunks(url) if status == 200 else outputs.read_range(url, start, length)
    return StreamingResponse(_counted(request, "content", body), status_code=status, media_type=media_type, headers=headers)


async def _counted(request: Request, route: str, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The body, each piece counted in framecast_served_bytes as it leaves."""
    counter = request.app.state.metrics.served_bytes.labels(route)
    async for piece in body:
        counter.inc(len(piece))
        yield piece


@router.get("/v1/videos/{video_id}/events")
async def video_events(video_id: str, request: Request) -> EventSourceResponse:
    """Server-sent events: the video object at every change of status, progress or stage,
    until it completes, fails or is deleted."""
    manager = _manager(request)
    await _existing(request, video_id)

    async def events() -> AsyncIterator[dict]:
        last = None
        async for record in manager.follow(video_id):
            if record is None:
                yield {"event": "deleted", "data": json.dumps({"id": video_id, "object": "video.deleted", "deleted": True})}
                return
            state = (record.status, record.progress, record.stage)
            if state != last:
                last = state
                yield {"event": "video", "data": record.to_video().model_dump_json()}

    return EventSourceResponse(events(), ping=15)


# -- POST /v1/videos/generations ------------------------------------------------------------------


@router.post("/v1/videos/generations", response_model=VideoGenerationResponse)
async def create_video_generation(body: VideoGenerationRequest, request: Request) -> JSONResponse:
    if body.stream:
        raise ApiError(
            400,
            "stream is not supported on /v1/videos/generations; create a job with POST /v1/videos and follow "
            "GET /v1/videos/{id}/events",
            param="stream",
            code="unsupported_value",
        )
    manager = _manager(request)
    # The worker always stores the video and answers with a reference: large videos never
    # cross the request plane; base64 is assembled here, streamed.
    record = await _submit(request, body, "sync")
    waiter = asyncio.ensure_future(manager.wait(record.id))
    # A client that goes away cancels its job: the worker stops at its next step.
    while not waiter.done():
        await asyncio.wait({waiter}, timeout=0.25)
        if not waiter.done() and await request.is_disconnected():
            await manager.abandon(record.id, "the client disconnected")
    result = waiter.result()
    final, record = result.final, result.record
    if record.status != "completed" or final is None or "video" not in record.outputs:
        error = record.error or VideoJobError(code=GENERATION_FAILED, message=f"video {record.id} ended without a video")
        known = JOB_ERROR_CODES.get(error.code)
        status = FIELD_ERROR_STATUS if error.param else known.http_status if known else 502
        raise ApiError(status, error.message, param=error.param, code=error.code)
    video_url = record.outputs["video"]
    fps = final.data[0].fps if final.data else (record.fps or 0)
    item: dict[str, Any] = {"output_format": "mp4", "fps": fps}
    response = VideoGenerationResponse(
        id=record.id, model=record.model, created=int(record.created_at),
        inference_time_s=final.inference_time_s, seed=record.seed,
    ).model_dump(mode="json")  # fmt: skip
    headers = {"x-framecast-worker": record.worker or ""}
    if body.response_format == "url":
        policy: UrlPolicy = request.app.state.url_policy
        item["url"] = await policy.url_for(video_url, record.id, "video", str(request.base_url))
        response["data"] = [item]
        return JSONResponse(response, headers=headers)
    # Stream {"...": ..., "data": [{..., "b64_json": "<base64>"}]} without the video in memory.
    marker = "@@framecast-b64@@"
    response["data"] = [item | {"b64_json": marker}]
    prefix, suffix = json.dumps(response).split(marker)

    async def stream() -> AsyncIterator[bytes]:
        yield prefix.encode()
        async for piece in _counted(request, "generations_b64", outputs.read_base64(video_url)):
            yield piece
        yield suffix.encode()

    return StreamingResponse(stream(), media_type="application/json", headers=headers)

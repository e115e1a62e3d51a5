"""Video routes: the OpenAI Videos job API (`/v1/videos...`) and the synchronous
`POST /v1/videos/generations`. Each parses its request and answers; serving.py does the work."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sse_starlette.sse import EventSourceResponse
from starlette.datastructures import UploadFile

from framecast.frontend.content import inline_base64, stored_file
from framecast.frontend.errors import ApiError
from framecast.frontend.jobs.record import JobRecord
from framecast.frontend.security import caller_of
from framecast.frontend.serving import VideoService
from framecast.frontend.urls import UrlPolicy
from framecast.protocol import (
    ErrorCode,
    VideoCreateRequest,
    VideoDeleted,
    VideoGenerationRequest,
    VideoGenerationResponse,
    VideoJob,
    VideoJobList,
    VideoRemixRequest,
    validation_error_body,
)

router = APIRouter()

POLL_HEADER = "openai-poll-after-ms"

Body = TypeVar("Body", bound=BaseModel)


def _service(request: Request) -> VideoService:
    return request.app.state.videos


def _video_response(request: Request, record: JobRecord) -> JSONResponse:
    headers = {} if record.terminal else {POLL_HEADER: str(_service(request).poll_after_ms)}
    return JSONResponse(record.to_video().model_dump(mode="json"), headers=headers)


async def client_gone(request: Request) -> None:
    """Returns when the client disconnects: the server's `http.disconnect`, awaited (the body
    has been read, so nothing else arrives first)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


# -- POST /v1/videos ----------------------------------------------------------------------------


async def form_to_body(form, file_fields: tuple[str, ...] = ("input_reference",)) -> tuple[dict[str, Any], dict[str, list[bytes]]]:
    """Multipart fields as the JSON body would carry them, in the shapes the openai SDK sends:
    "nvext[fps]" -> {"nvext": {"fps": ...}}, "lora[][name]" -> {"lora": [{"name": ...}]} (a
    repeated subkey starts the next item); a field holding a JSON list or object (curl -F
    'lora=[...]') is read as JSON. Also the bytes of the files uploaded under `file_fields`
    ("image[]" counts as "image"), by field."""
    body: dict[str, Any] = {}
    uploads: dict[str, list[bytes]] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            field = key.removesuffix("[]")
            if field not in file_fields:
                raise ApiError(ErrorCode.INVALID_VALUE, f"{key}: only {' and '.join(file_fields)} take files", param=key)
            uploads.setdefault(field, []).append(await value.read())
            continue
        if key.endswith("]") and "[]" in key:
            outer, inner = key.split("[]", 1)
            items = body.setdefault(outer, [])
            inner = inner.strip("[]")
            if not isinstance(items, list):
                raise ApiError(ErrorCode.INVALID_VALUE, f"{outer}: given both as a list and otherwise", param=outer)
            if not inner:
                items.append(value)
                continue
            if not items or not isinstance(items[-1], dict) or inner in items[-1]:
                items.append({})
            items[-1][inner] = value
        elif "[" in key and key.endswith("]"):
            outer, inner = key[:-1].split("[", 1)
            body.setdefault(outer, {})[inner] = value
        elif value.lstrip().startswith(("[", "{")) and key not in ("prompt", "negative_prompt"):
            body[key] = json.loads(value)
        else:
            body[key] = value
    return body, uploads


def body_schema(model: type[BaseModel], file_field: str = "input_reference") -> dict:
    """Routes that read their bodies themselves (JSON or multipart, for an uploaded image)
    declare their schema here; nested models refer to the components FastAPI publishes for the
    other routes."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    upload = schema | {"properties": schema["properties"] | {file_field: {"type": "string", "format": "binary"}}}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}, "multipart/form-data": {"schema": upload}},
        }
    }


async def read_body(
    request: Request, model: type[Body], file_fields: tuple[str, ...] = ("input_reference",)
) -> tuple[Body, dict[str, list[bytes]]]:
    """The request's body as `model`, from JSON or a form, and the files uploaded by field."""
    content_type = request.headers.get("content-type", "")
    uploads: dict[str, list[bytes]] = {}
    try:
        if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            raw, uploads = await form_to_body(await request.form(), file_fields)
        else:
            raw = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(ErrorCode.INVALID_JSON, "request body is not valid JSON") from None
    try:
        return model.model_validate(raw), uploads
    except ValidationError as error:
        raise ApiError.from_body(validation_error_body(error.errors())) from None


async def _read_body(request: Request, model: type[Body]) -> tuple[Body, bytes | None]:
    """The request's body as `model`, and an uploaded input image (the last, if several)."""
    body, uploads = await read_body(request, model)
    return body, (uploads.get("input_reference") or [None])[-1]


@router.post("/v1/videos", openapi_extra=body_schema(VideoCreateRequest), response_model=VideoJob)
async def create_video(request: Request) -> JSONResponse:
    body, upload = await _read_body(request, VideoCreateRequest)
    record = await _service(request).create(body, "job", caller_of(request), upload)
    return _video_response(request, record)


@router.post("/v1/videos/{video_id}/remix", openapi_extra=body_schema(VideoRemixRequest), response_model=VideoJob)
async def remix_video(video_id: str, request: Request) -> JSONResponse:
    """A new job: the completed video's frames remade with a new prompt, by its model."""
    body, upload = await _read_body(request, VideoRemixRequest)
    if upload is not None:
        raise ApiError(ErrorCode.INVALID_VALUE, "input_reference: a remix starts from the source video's frames", param="input_reference")
    record = await _service(request).remix(video_id, body, caller_of(request))
    return _video_response(request, record)


# -- reading ------------------------------------------------------------------------------------


@router.get("/v1/videos/{video_id}", response_model=VideoJob)
async def retrieve_video(video_id: str, request: Request) -> JSONResponse:
    return _video_response(request, await _service(request).retrieve(video_id, caller_of(request)))


@router.get("/v1/videos", response_model=VideoJobList)
async def list_videos(
    request: Request,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
) -> VideoJobList:
    return await _service(request).list(caller_of(request), after, limit, order)


@router.delete("/v1/videos/{video_id}", response_model=VideoDeleted)
async def delete_video(video_id: str, request: Request) -> VideoDeleted:
    return await _service(request).delete(video_id, caller_of(request))


# A route per method: OpenAPI gives each method an operation id of its own.
@router.head("/v1/videos/{video_id}/content", operation_id="head_video_content")
@router.get("/v1/videos/{video_id}/content", operation_id="download_video_content")
async def download_video(
    video_id: str, request: Request, variant: Literal["video", "thumbnail", "spritesheet"] = "video"
) -> Response:
    """The stored file, streamed, with Range support (players seek with it)."""
    url = await _service(request).stored_output(video_id, variant, caller_of(request))
    return await stored_file(request, url, video_id, variant)


@router.get("/v1/videos/{video_id}/events")
async def video_events(video_id: str, request: Request) -> EventSourceResponse:
    """Server-sent events: the video object at every change of status, progress or stage,
    until it completes, fails or is deleted."""
    return EventSourceResponse(await _service(request).events(video_id, caller_of(request)), ping=15)


# -- POST /v1/videos/generations ------------------------------------------------------------------


@router.post(
    "/v1/videos/generations", openapi_extra=body_schema(VideoGenerationRequest), response_model=VideoGenerationResponse
)
async def create_video_generation(request: Request) -> Response:
    body, upload = await _read_body(request, VideoGenerationRequest)
    if body.stream:
        message = (
            "stream is not supported on /v1/videos/generations; create a job with POST /v1/videos and follow "
            "GET /v1/videos/{id}/events"
        )
        raise ApiError(ErrorCode.UNSUPPORTED_VALUE, message, param="stream")
    # A client that goes away cancels its job: the worker stops at its next step.
    result = await _service(request).generate(body, caller_of(request), client_gone(request), upload)
    record, final = result.record, result.final
    video_url = record.outputs["video"]
    item: dict[str, Any] = {"output_format": "mp4", "fps": final.data[0].fps if final.data else (record.fps or 0)}
    response = VideoGenerationResponse(
        id=record.id, model=record.model, created=int(record.created_at),
        inference_time_s=final.inference_time_s, seed=record.seed, has_audio=record.has_audio,
    ).model_dump(mode="json")  # fmt: skip
    headers = {"x-framecast-worker": record.worker or ""}
    if body.response_format == "b64_json":
        return inline_base64(request, response, item, video_url, headers)
    policy: UrlPolicy = request.app.state.url_policy
    item["url"] = await policy.url_for(video_url, f"/v1/videos/{record.id}/content", str(request.base_url))
    return JSONResponse(response | {"data": [item]}, headers=headers)

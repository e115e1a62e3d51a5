"""POST /v1/videos/generations: one request, held open until the video is done."""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from framecast.frontend.discovery import NoWorkerError, UnknownModelError, WorkerDirectory
from framecast.frontend.errors import ApiError
from framecast.protocol import VideoGenerationRequest, VideoGenerationResponse, WorkerVideoMessage

log = logging.getLogger(__name__)

router = APIRouter()

# HTTP status for a worker's structured error code; anything else a worker reports is a 500.
_STATUS_BY_WORKER_CODE = {"model_not_found": 404}


def _routed(directory: WorkerDirectory, model: str | None):
    try:
        return directory.route(model)
    except NoWorkerError as error:
        raise ApiError(503, f"{error}; try again when a worker is up", param="model", code="no_live_worker") from None
    except UnknownModelError as error:
        if not error.model:
            raise ApiError(
                400, f"model is required: this server serves {', '.join(error.served)}", param="model", code="missing_field"
            ) from None
        raise ApiError(
            404,
            f"model {error.model!r} is not served here; served: {', '.join(error.served)}",
            param="model",
            code="model_not_found",
        ) from None


def _response_body(message: WorkerVideoMessage) -> dict:
    body = VideoGenerationResponse.model_validate(message.model_dump()).model_dump(mode="json")
    # A video carries either url or b64_json.
    body["data"] = [item.model_dump(mode="json", exclude_none=True) for item in message.data]
    return body


@router.post("/v1/videos/generations")
async def create_video_generation(body: VideoGenerationRequest, request: Request) -> JSONResponse:
    if body.stream:
        raise ApiError(
            400,
            "stream is not supported on /v1/videos/generations; this route answers once the video is done",
            param="stream",
            code="unsupported_value",
        )
    body.knobs()  # a conflicting top-level/nvext pair is refused before any worker is involved
    directory: WorkerDirectory = request.app.state.directory
    model, instance = _routed(directory, body.model)
    video_id = f"video_{uuid.uuid4().hex}"
    wire = body.model_dump(mode="json", exclude_none=True) | {"model": model, "request_id": video_id}

    final: WorkerVideoMessage | None = None
    try:
        async for message in directory.generate(wire, instance.instance_id):
            final = WorkerVideoMessage.model_validate(message)
    except Exception as error:  # the request plane reports a lost worker as a plain exception
        log.warning("request %s to worker %x failed: %s", video_id, instance.instance_id, error)
        raise ApiError(502, f"the worker serving {model!r} failed: {error}", code="worker_failed") from None
    if final is None:
        raise ApiError(502, f"the worker serving {model!r} sent no result", code="worker_failed")
    if final.status == "failed":
        detail = final.error_detail
        if detail is not None and detail.type == "invalid_request_error":
            raise ApiError(_STATUS_BY_WORKER_CODE.get(detail.code, 400), detail.message, param=detail.param, code=detail.code)
        raise ApiError(500, final.error or "generation failed", code=detail.code if detail else "generation_failed")
    return JSONResponse(_response_body(final), headers={"x-framecast-worker": f"{instance.instance_id:x}"})

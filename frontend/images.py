"""Image routes: `POST /v1/images/generations` and `POST /v1/images/edits` (the OpenAI Images
shape), answered once the images are made, and `GET /v1/images/{id}/content` for the `url` of
each. Images are jobs of the
same engine as videos: admission, queues, storage, URL policy and metrics are shared."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from framecast.frontend import outputs
from framecast.frontend.content import stored_file
from framecast.frontend.security import caller_of
from framecast.frontend.serving import VideoService
from framecast.frontend.jobs.events import SyncResult
from framecast.frontend.urls import UrlPolicy
from framecast.frontend.videos import body_schema, client_gone, read_body
from framecast.protocol import ImageData, ImageEditRequest, ImageGenerationRequest, ImageGenerationResponse
from framecast.protocol.images import MAX_IMAGES

router = APIRouter()


def _service(request: Request) -> VideoService:
    return request.app.state.videos


@router.post("/v1/images/generations", response_model=ImageGenerationResponse)
async def create_images(body: ImageGenerationRequest, request: Request) -> JSONResponse:
    # A client that goes away cancels the request, as on the synchronous video route.
    result = await _service(request).generate(body, caller_of(request), client_gone(request))
    return await _answer(request, body, result)


@router.post("/v1/images/edits", openapi_extra=body_schema(ImageEditRequest, "image"), response_model=ImageGenerationResponse)
async def edit_images(request: Request) -> JSONResponse:
    """OpenAI's image edits: the image(s) as multipart files (how the openai client sends them)
    or as data: or http(s) URLs in `image`, a prompt, and the knobs of image generation."""
    body, uploads = await read_body(request, ImageEditRequest, ("image", "mask"))
    result = await _service(request).edit(
        body, uploads.get("image", []), bool(uploads.get("mask")), caller_of(request), client_gone(request)
    )
    return await _answer(request, body, result)


async def _answer(request: Request, body: ImageGenerationRequest, result: SyncResult) -> JSONResponse:
    """The images of a finished request, inline (b64_json) or by URL."""
    record = result.record
    policy: UrlPolicy = request.app.state.url_policy
    data = []
    for index in range(len(record.outputs)):
        stored = record.outputs[f"image_{index}"]
        if body.response_format == "b64_json":
            image = await outputs.read_all(stored)
            request.app.state.metrics.served_bytes.labels("images_b64").inc(len(image))
            data.append(ImageData(b64_json=base64.b64encode(image).decode("ascii")))
        else:
            path = f"/v1/images/{record.id}/content?index={index}"
            data.append(ImageData(url=await policy.url_for(stored, path, str(request.base_url))))
    response = ImageGenerationResponse(
        created=int(record.created_at), data=data, model=record.model, size=record.size,
        output_format=body.output_format, seed=record.seed,
    )  # fmt: skip
    return JSONResponse(response.model_dump(mode="json", exclude_none=True), headers={"x-framecast-worker": record.worker or ""})


@router.get("/v1/images/{image_id}/content")
async def download_image(image_id: str, request: Request, index: Annotated[int, Query(ge=0, lt=MAX_IMAGES)] = 0) -> Response:
    url = await _service(request).stored_image(image_id, index, caller_of(request))
    return await stored_file(request, url, image_id, f"image_{index}")

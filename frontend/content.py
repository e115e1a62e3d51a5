"""Stored outputs as HTTP bodies: a file streamed with Range support (players seek with it), and
a synchronous generation's answer with its video inline as base64, streamed."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from framecast.frontend import outputs
from framecast.frontend.errors import ApiError
from framecast.protocol import ErrorCode

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
            ErrorCode.RANGE_NOT_SATISFIABLE, f"range {header!r} is outside the {size} bytes of this content",
            headers={"content-range": f"bytes */{size}"},
        )  # fmt: skip
    return start, end


async def counted(request: Request, route: str, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The body, each piece counted in framecast_served_bytes as it leaves."""
    counter = request.app.state.metrics.served_bytes.labels(route)
    async for piece in body:
        counter.inc(len(piece))
        yield piece


async def stored_file(request: Request, url: str, job_id: str, variant: str) -> Response:
    size = await outputs.size_of(url)
    if size is None:
        raise ApiError(ErrorCode.CONTENT_MISSING, f"the {variant} of {job_id} is gone from storage")
    headers = {
        "accept-ranges": "bytes",
        "content-disposition": f'inline; filename="{job_id}.{url.rsplit(".", 1)[-1]}"',
    }
    wanted = byte_range(request.headers.get("range"), size)
    media_type = outputs.media_type(variant, url)
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
    return StreamingResponse(counted(request, "content", body), status_code=status, media_type=media_type, headers=headers)


def inline_base64(request: Request, response: dict[str, Any], item: dict[str, Any], video_url: str, headers: dict) -> Response:
    """`response` with data [item + b64_json], the video read and encoded as it is sent: a
    large video is never whole in memory."""
    marker = "@@framecast-b64@@"
    response["data"] = [item | {"b64_json": marker}]
    prefix, suffix = json.dumps(response).split(marker)

    async def stream() -> AsyncIterator[bytes]:
        yield prefix.encode()
        async for piece in counted(request, "generations_b64", outputs.read_base64(video_url)):
            yield piece
        yield suffix.encode()

    return StreamingResponse(stream(), media_type="application/json", headers=headers)

"""Reading and deleting what workers stored (any fsspec URL), without blocking the event loop."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator

import fsspec

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
# Read object stores sequentially in small blocks (s3fs otherwise buffers 50 MB blocks).
_STREAMING = {"block_size": 4 * CHUNK_BYTES}
CONTENT_TYPES = {"video": "video/mp4", "thumbnail": "image/jpeg", "spritesheet": "image/jpeg"}
_IMAGE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def media_type(variant: str, url: str) -> str:
    """The content type of a stored output: by variant, or for images by their extension."""
    return CONTENT_TYPES.get(variant) or _IMAGE_TYPES.get(url.rsplit(".", 1)[-1], "application/octet-stream")


def _open_streaming(url: str):
    filesystem, path = fsspec.core.url_to_fs(url)
    return filesystem.open(path, "rb", **_STREAMING)


async def size_of(url: str) -> int | None:
    def size() -> int | None:
        filesystem, path = fsspec.core.url_to_fs(url)
        try:
            return filesystem.size(path)
        except FileNotFoundError:
            return None

    return await asyncio.to_thread(size)


async def read_chunks(url: str, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """The stored bytes in chunks, never the whole file in memory."""
    handle = await asyncio.to_thread(lambda: _open_streaming(url))
    try:
        while chunk := await asyncio.to_thread(handle.read, chunk_bytes):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def read_all(url: str) -> bytes:
    """A small stored output (an image), whole."""
    return b"".join([chunk async for chunk in read_chunks(url)])


async def delete(urls: list[str]) -> None:
    """Delete stored outputs; ones already gone are fine."""

    def remove(url: str) -> None:
        filesystem, path = fsspec.core.url_to_fs(url)
        try:
            filesystem.rm(path)
        except FileNotFoundError:
            pass

    for url in urls:
        try:
            await asyncio.to_thread(remove, url)
        except Exception as error:  # an unreachable store must not fail a DELETE: log it
            log.warning("could not delete %s: %s", url, error)


async def read_range(url: str, start: int, length: int, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """`length` stored bytes from `start`, in chunks."""
    handle = await asyncio.to_thread(lambda: _open_streaming(url))
    try:
        await asyncio.to_thread(handle.seek, start)
        left = length
        while left > 0 and (chunk := await asyncio.to_thread(handle.read, min(chunk_bytes, left))):
            left -= len(chunk)
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def read_base64(url: str, chunk_bytes: int = 3 * (1 << 18)) -> AsyncIterator[bytes]:
    """The stored bytes base64-encoded, chunk by chunk: each piece encodes a multiple of 3
    bytes, so the pieces concatenate into one valid encoding."""
    carry = b""
    async for chunk in read_chunks(url, chunk_bytes):
        chunk = carry + chunk
        cut = len(chunk) - len(chunk) % 3
        carry = chunk[cut:]
        if cut:
            yield base64.b64encode(chunk[:cut])
    if carry:
        yield base64.b64encode(carry)


def can_presign(url: str) -> bool:
    filesystem, _ = fsspec.core.url_to_fs(url)
    return type(filesystem).sign is not fsspec.AbstractFileSystem.sign


async def presign(url: str, expires_s: int) -> str:
    """A plain HTTP(S) URL for the object that expires, for stores that can sign (S3, GCS)."""

    def sign() -> str:
        filesystem, path = fsspec.core.url_to_fs(url)
        return filesystem.sign(path, expiration=expires_s)

    return await asyncio.to_thread(sign)

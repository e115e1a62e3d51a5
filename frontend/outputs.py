"""Reading and deleting what workers stored (any fsspec URL), without blocking the event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import fsspec

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
CONTENT_TYPES = {"video": "video/mp4", "thumbnail": "image/jpeg", "spritesheet": "image/jpeg"}


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
    handle = await asyncio.to_thread(lambda: fsspec.open(url, "rb").open())
    try:
        while chunk := await asyncio.to_thread(handle.read, chunk_bytes):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


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

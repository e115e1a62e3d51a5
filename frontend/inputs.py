"""Input images on the frontend. A request's `input_reference` (an upload, a data: URL, or an
http(s) URL fetched safely) is read, checked and normalised to PNG, then stored under the input
store, which the workers read too. The worker request carries the stored image's URL, never its
pixels: large payloads stay off the request plane and out of the job records."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from dataclasses import dataclass
from pathlib import Path

import fsspec

from framecast.frontend.fetching import FetchPolicy, SafeFetcher
from framecast.frontend.references import read_reference
from framecast.protocol.options import option


@dataclass(frozen=True)
class InputSettings:
    input_store: str | None = option(
        None,
        "fsspec URL input images are stored under for the workers to read: give frontends and workers the same one "
        "(default: file://<current dir>/inputs)",
    )
    fetch_allow: str | None = option(
        None,
        "addresses or networks (comma separated, as 10.0.0.0/8 or 127.0.0.1) input image URLs may be fetched from "
        "although they are not public: an operator's own image server. Nothing else that is not public is fetched",
    )
    fetch_max_bytes: int = option(20 * 2**20, "largest input image, fetched or uploaded")
    fetch_timeout_s: float = option(10.0, "seconds fetching an input image may take", flag="--fetch-timeout")
    input_max_pixels: int = option(40_000_000, "most pixels an input image may have (width x height)")

    def fetch_policy(self) -> FetchPolicy:
        allowed = []
        for entry in filter(None, (part.strip() for part in (self.fetch_allow or "").split(","))):
            try:
                allowed.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"--fetch-allow: {entry!r} is not an address or network") from None
        return FetchPolicy(allowed=tuple(allowed), max_bytes=self.fetch_max_bytes, timeout_s=self.fetch_timeout_s)


class InputStore:
    def __init__(self, settings: InputSettings, fetcher: SafeFetcher | None = None):
        self.settings = settings
        self.fetcher = fetcher or SafeFetcher(settings.fetch_policy())
        self.fs, root = fsspec.core.url_to_fs(settings.input_store or (Path.cwd() / "inputs").as_uri())
        self.root = root.rstrip("/")
        self.prefix = self.fs.unstrip_protocol(self.root) + "/"

    async def stage(self, value: str | bytes, param: str = "input_reference") -> str:
        """The stored image's URL. Raises RequestFieldError naming `param`, the field it came in."""
        image = await read_reference(value, self.fetcher, self.settings.input_max_pixels, param)
        path = f"{self.root}/{uuid.uuid4().hex}.png"
        await asyncio.to_thread(self._write, path, image.png)
        return self.fs.unstrip_protocol(path)

    def _write(self, path: str, data: bytes) -> None:
        self.fs.makedirs(self.root, exist_ok=True)
        if "file" in self.fs.protocol:
            # Written then renamed: a worker never reads half an image.
            self.fs.pipe_file(f"{path}.partial", data)
            self.fs.mv(f"{path}.partial", path)
        else:
            self.fs.pipe_file(path, data)

    def holds(self, url: str | None) -> bool:
        return url is not None and url.startswith(self.prefix)

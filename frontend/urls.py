"""What URL a client gets for a stored output: one it can open.

auto (the default): the configured public base URL when there is one; a presigned URL with an
expiry when the store can sign (S3, GCS); else this frontend's own /content route. `raw` gives
the storage URL itself (s3://..., file://...), for clients that read the store directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from framecast.frontend import outputs
from framecast.protocol.options import option

UrlMode = Literal["auto", "content", "presigned", "public", "raw"]


@dataclass(frozen=True)
class UrlPolicy:
    mode: UrlMode = option(
        "auto",
        "URL clients get: auto = public base URL if set, else presigned for S3/GCS, else this frontend's /content "
        "route; raw = the storage URL itself",
        flag="--output-urls", choices=("auto", "content", "presigned", "public", "raw"),
    )  # fmt: skip
    public_base_url: str | None = option(None, "base URL under which the output store is published")
    presign_expiry_s: int = option(3600, "seconds a presigned URL works", flag="--presign-expiry")

    def __post_init__(self) -> None:
        if self.mode == "public" and not self.public_base_url:
            raise ValueError("--output-urls public needs --public-base-url")

    async def url_for(self, storage_url: str, content_path: str, request_base: str) -> str:
        """`content_path`: this frontend's route that serves the output (content mode)."""
        mode = self.mode
        if mode == "auto":
            if self.public_base_url:
                mode = "public"
            elif outputs.can_presign(storage_url):
                mode = "presigned"
            else:
                mode = "content"
        if mode == "raw":
            return storage_url
        if mode == "public":
            return f"{self.public_base_url.rstrip('/')}/{storage_url.rsplit('/', 1)[-1]}"
        if mode == "presigned":
            return await outputs.presign(storage_url, self.presign_expiry_s)
        return f"{request_base.rstrip('/')}{content_path}"

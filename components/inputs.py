"""A request's input image on the worker.

Workers never fetch from the network: an image reaches them as a URL under the input store the
frontends write to (`--input-store`, shared by both), or inline as a `data:` URL (what another
frontend, such as NVIDIA Dynamo's, may send). It is decoded under a pixel cap, turned upright
and made RGB, then fitted to the requested size the same way on every backend: scaled so that
it covers the whole frame, keeping its aspect ratio, and the overflow cropped evenly from both
sides (centre crop).
"""

from __future__ import annotations

import re

import fsspec
from PIL import Image, ImageOps

from framecast.media.data_urls import data_url_bytes, is_data_url
from framecast.media.errors import MediaRefused
from framecast.media.images import DEFAULT_MAX_PIXELS, open_image
from framecast.protocol import ErrorCode, RequestFieldError, parse_size

PARAM = "input_reference"
_STORED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def _refused(message: str, code: ErrorCode = ErrorCode.INVALID_VALUE, param: str = PARAM) -> RequestFieldError:
    return RequestFieldError(param, f"{param}: {message}", code=code)


class InputImages:
    """Reads input images from one fsspec root, or from data: URLs."""

    def __init__(self, store_url: str, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.fs, root = fsspec.core.url_to_fs(store_url)
        self.root = root.rstrip("/")
        self.prefix = self.fs.unstrip_protocol(self.root) + "/"
        self.max_pixels = max_pixels

    def read(self, reference: str, param: str = PARAM) -> Image.Image:
        """The image `reference` names, decoded, upright and RGB (blocking: call from a thread);
        a refusal names `param`, the request field it came in."""
        try:
            return open_image(self._bytes(reference.strip(), param), self.max_pixels)
        except MediaRefused as error:
            raise _refused(str(error), param=param) from None

    def _bytes(self, reference: str, param: str) -> bytes:
        if is_data_url(reference):
            return data_url_bytes(reference)
        if reference.startswith(self.prefix):
            name = reference[len(self.prefix) :]
            if not _STORED_NAME.fullmatch(name) or ".." in name:
                raise _refused(f"{reference!r} is not a stored input image", param=param)
            try:
                return self.fs.cat_file(f"{self.root}/{name}")
            except FileNotFoundError:
                raise _refused(f"{reference} is gone from the input store", param=param) from None
        if reference.lower().startswith(("http://", "https://")):
            raise _refused(
                "workers do not fetch from the network; send the image through a framecast frontend (which fetches "
                "and checks it) or inline as a data: URL",
                ErrorCode.UNSUPPORTED_VALUE, param,
            )  # fmt: skip
        raise _refused(
            f"{reference[:80]!r} is neither a data: URL nor an image in this worker's input store ({self.prefix})", param=param
        )


def fit_image(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scaled to cover width x height (aspect ratio kept), then centre-cropped to it."""
    if image.size == (width, height):
        return image
    return ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def closest_size(image: Image.Image, sizes: tuple[str, ...]) -> tuple[int, int] | None:
    """Of a model's published sizes ("WxH"), the one whose aspect ratio is nearest the image's."""
    if not sizes:
        return None
    aspect = image.width / image.height
    parsed = [parse_size(size) for size in sizes]
    return min(parsed, key=lambda size: abs(size[0] / size[1] - aspect))

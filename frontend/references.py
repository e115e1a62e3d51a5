"""A request's `input_reference`, in any of the forms clients send it, read into one
normalised image: a multipart upload (how the openai SDK sends a file), a `data:` URL, or an
http(s) URL the frontend fetches itself. Every refusal is a 400 naming `input_reference`."""

from __future__ import annotations

import base64
import binascii
import re

from framecast.frontend.fetching import FetchRefused, SafeFetcher
from framecast.frontend.safe_images import ImageRefused, NormalizedImage, normalize_image
from framecast.protocol import ErrorCode, RequestFieldError

PARAM = "input_reference"
_DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<base64>;base64)?,(?P<data>.*)", re.S)


def _refused(message: str) -> RequestFieldError:
    return RequestFieldError(PARAM, f"{PARAM}: {message}", code=ErrorCode.INVALID_VALUE)


def _decode_data_url(value: str, max_bytes: int) -> bytes:
    match = _DATA_URL.fullmatch(value.strip())
    if match is None or not match.group("base64"):
        raise _refused("a data URL must be base64, as in data:image/png;base64,...")
    if match.group("type") and not match.group("type").startswith("image/"):
        raise _refused(f"a data URL of {match.group('type')} is not an image")
    encoded = match.group("data")
    if len(encoded) * 3 // 4 > max_bytes:
        raise _refused(f"the image is more than {max_bytes} bytes")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _refused("the data URL is not valid base64") from None


async def read_reference(value: str | bytes, fetcher: SafeFetcher, max_pixels: int = 40_000_000) -> NormalizedImage:
    """The image `value` holds (an upload's bytes) or points to (a data: or http(s) URL)."""
    max_bytes = fetcher.policy.max_bytes
    if isinstance(value, bytes):
        if len(value) > max_bytes:
            raise _refused(f"the upload is {len(value)} bytes; at most {max_bytes} are taken")
        data = value
    elif value.strip().lower().startswith("data:"):
        data = _decode_data_url(value, max_bytes)
    elif value.strip().lower().startswith(("http://", "https://")):
        try:
            data = await fetcher.fetch(value.strip())
        except FetchRefused as error:
            raise _refused(str(error)) from None
    else:
        raise _refused("give an image as a file upload, a data: URL or an http(s) URL")
    try:
        return normalize_image(data, max_pixels)
    except ImageRefused as error:
        raise _refused(str(error)) from None

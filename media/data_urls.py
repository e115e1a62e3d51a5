"""`data:` URLs (RFC 2397), the inline form of an image in a JSON request."""

from __future__ import annotations

import base64
import binascii
import re

from framecast.media.errors import MediaRefused

_DATA_URL = re.compile(
    r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<base64>;base64)?,(?P<data>.*)", re.S
)


def is_data_url(value: str) -> bool:
    return value.strip().lower().startswith("data:")


def data_url_bytes(value: str, max_bytes: int | None = None, media_type: str = "image/") -> bytes:
    """The bytes a base64 data URL holds; refused when it is not base64, says another media type
    than `media_type` (a prefix), or holds more than max_bytes."""
    match = _DATA_URL.fullmatch(value.strip())
    if match is None or not match.group("base64"):
        raise MediaRefused("a data URL must be base64, as in data:image/png;base64,...")
    declared = match.group("type")
    if declared and not declared.lower().startswith(media_type):
        noun = {"image/": "an image", "video/": "a video"}.get(media_type, f"{media_type} media")
        raise MediaRefused(f"a data URL of {declared} is not {noun}")
    encoded = match.group("data")
    if max_bytes is not None and len(encoded) * 3 // 4 > max_bytes:
        raise MediaRefused(f"the data URL holds more than {max_bytes} bytes")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise MediaRefused("the data URL is not valid base64") from None


def to_data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64," + base64.b64encode(data).decode("ascii")

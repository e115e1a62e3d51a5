"""A client's image decoded safely: the size read from the header first, so a decompression
bomb is refused before its pixels are decoded; then turned upright by its EXIF orientation and
made RGB."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from framecast.media.errors import MediaRefused

DEFAULT_MAX_PIXELS = 40_000_000
_UNREADABLE = (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError)


def open_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The image `data` holds, upright and RGB, if it has at most max_pixels pixels."""
    try:
        # Reads the header only: the size is known before a pixel is decoded.
        image = Image.open(io.BytesIO(data))
    except _UNREADABLE as error:
        raise MediaRefused(f"not an image that can be read ({error})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise MediaRefused(f"the image is {width}x{height}, more than {max_pixels} pixels")
    try:
        return ImageOps.exif_transpose(image).convert("RGB")
    except _UNREADABLE as error:
        raise MediaRefused(f"the image cannot be decoded ({error})") from None


@dataclass(frozen=True)
class NormalizedImage:
    png: bytes
    width: int
    height: int


def normalize_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> NormalizedImage:
    """The image as PNG, upright and RGB: the one form workers take."""
    image = open_image(data, max_pixels)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return NormalizedImage(out.getvalue(), image.width, image.height)

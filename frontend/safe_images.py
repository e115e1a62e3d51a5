"""A client's image made safe to hand on: decoded by Pillow under a pixel cap (a decompression
bomb is refused before its pixels are read), turned upright by its EXIF orientation, converted
to RGB, and written again as PNG, the one form workers take."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError


class ImageRefused(Exception):
    """The bytes are not an image this server takes; the message says why."""


@dataclass(frozen=True)
class NormalizedImage:
    png: bytes
    width: int
    height: int


def normalize_image(data: bytes, max_pixels: int = 40_000_000) -> NormalizedImage:
    try:
        # Reads the header only: the size is known before a pixel is decoded.
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise ImageRefused(f"the image has too many pixels ({error})") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ImageRefused(f"not an image Pillow can read ({error})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRefused(f"the image is {width}x{height}, more than {max_pixels} pixels")
    try:
        image = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ImageRefused(f"the image cannot be decoded ({error})") from None
    out = io.BytesIO()
    image.save(out, format="PNG")
    return NormalizedImage(out.getvalue(), image.width, image.height)

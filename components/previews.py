"""Still images of a video: a thumbnail and a spritesheet (JPEG)."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

SPRITESHEET_FRAMES = 16
SPRITESHEET_COLUMNS = 4


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def thumbnail_jpeg(frames: np.ndarray) -> bytes:
    """The middle frame, full size."""
    return _jpeg(Image.fromarray(frames[len(frames) // 2]))


def spritesheet_jpeg(frames: np.ndarray, count: int = SPRITESHEET_FRAMES, columns: int = SPRITESHEET_COLUMNS) -> bytes:
    """Up to `count` frames evenly spread over the video, left to right, top to bottom."""
    picks = np.unique(np.linspace(0, len(frames) - 1, num=min(count, len(frames))).round().astype(int))
    columns = min(columns, len(picks))
    rows = math.ceil(len(picks) / columns)
    height, width = frames.shape[1:3]
    sheet = Image.new("RGB", (columns * width, rows * height))
    for slot, index in enumerate(picks):
        sheet.paste(Image.fromarray(frames[index]), ((slot % columns) * width, (slot // columns) * height))
    return _jpeg(sheet)

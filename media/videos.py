"""A stored video read back into frames (the source of a remix), under caps on its pixels and
frames so a file never costs more memory than the caps allow."""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
from PIL import Image

from framecast.media.errors import MediaRefused
from framecast.media.images import DEFAULT_MAX_PIXELS

DEFAULT_MAX_FRAMES = 2_000


@dataclass(frozen=True)
class DecodedFrames:
    frames: list[Image.Image]  # RGB, in order
    fps: float


def read_video(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, max_frames: int = DEFAULT_MAX_FRAMES) -> DecodedFrames:
    """The frames of the first video stream in `data` (any container PyAV reads)."""
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video:
                raise MediaRefused("the file has no video stream")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            if width * height > max_pixels:
                raise MediaRefused(f"the video is {width}x{height}, more than {max_pixels} pixels a frame")
            frames = []
            for frame in container.decode(stream):
                if len(frames) == max_frames:
                    raise MediaRefused(f"the video has more than {max_frames} frames")
                frames.append(frame.to_image().convert("RGB"))
            rate = stream.average_rate or stream.guessed_rate
    except av.FFmpegError as error:
        raise MediaRefused(f"not a video that can be read ({error})") from None
    if not frames:
        raise MediaRefused("the video has no frames")
    return DecodedFrames(frames, float(rate) if rate else 0.0)


def frames_over(frames: list[Image.Image], count: int) -> list[Image.Image]:
    """`count` frames spread over the same span of time (each the nearest of `frames`): fewer
    frames drop some, more repeat some."""
    if count == len(frames):
        return list(frames)
    if count == 1:
        return [frames[0]]
    last = len(frames) - 1
    # Half rounds up: round() would send halves to even frames and bunch them.
    return [frames[int(index * last / (count - 1) + 0.5)] for index in range(count)]

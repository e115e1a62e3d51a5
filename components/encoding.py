"""Frames (and a sound track, where the model makes one) to MP4 (H.264 yuv420p, AAC) in memory
with PyAV: no subprocess, no temporary file."""

from __future__ import annotations

import collections
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np


@dataclass(frozen=True)
class EncoderSettings:
    # x264 preset: a real speed/size trade-off (ultrafast is ~15x faster than medium on noise).
    preset: str = "medium"
    crf: int = 20


@dataclass(frozen=True)
class SoundTrack:
    """Sound a model made with its video: float samples in [-1, 1], (channels, samples)."""

    samples: np.ndarray
    sample_rate: int

    def lasting(self, seconds: float) -> np.ndarray:
        """The samples cut, or padded with silence, to `seconds`: a model's sound is a few
        milliseconds off the video's length (its audio latents are whole 40 ms steps), and the
        two tracks of a file should end together."""
        wanted = round(seconds * self.sample_rate)
        samples = np.clip(self.samples[:, :wanted], -1.0, 1.0).astype(np.float32)
        return np.pad(samples, ((0, 0), (0, wanted - samples.shape[1])))


# AAC's channel layouts by channel count.
_LAYOUTS = {1: "mono", 2: "stereo"}


def _sound_stream(container, sound: SoundTrack):
    channels = sound.samples.shape[0]
    if sound.samples.ndim != 2 or channels not in _LAYOUTS:
        raise ValueError(f"expected sound shaped (1 or 2 channels, samples), got {sound.samples.shape}")
    stream = container.add_stream("aac", rate=sound.sample_rate)
    stream.layout = _LAYOUTS[channels]
    return stream


def _sound_packets(stream, sound: SoundTrack, seconds: float) -> list:
    frame = av.AudioFrame.from_ndarray(sound.lasting(seconds), format="fltp", layout=stream.layout.name)
    frame.sample_rate, frame.pts = sound.sample_rate, 0
    # The encoder cuts the frame into AAC's 1024-sample frames itself.
    return [*stream.encode(frame), *stream.encode(None)]


def _yuv420p(frame: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p")


def _converted(frames: np.ndarray, lookahead: int = 4) -> Iterator[av.VideoFrame]:
    """The frames in the encoder's pixel format, converted a few ahead in another thread (the
    conversion releases the GIL), so conversion and encoding overlap as in the ffmpeg CLI."""
    with ThreadPoolExecutor(1) as pool:
        pending: collections.deque = collections.deque()
        for frame in frames:
            pending.append(pool.submit(_yuv420p, frame))
            if len(pending) > lookahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def encode_mp4(
    frames: np.ndarray, fps: int, settings: EncoderSettings = EncoderSettings(), sound: SoundTrack | None = None
) -> bytes:
    """Encode uint8 frames shaped (count, height, width, 3) as an MP4 playable in browsers, with
    the sound as an AAC track as long as the video."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames shaped (count, height, width, 3), got {frames.dtype} {frames.shape}")
    _, height, width, _ = frames.shape
    if width % 2 or height % 2:
        raise ValueError(f"yuv420p needs even width and height, got {width}x{height}")
    buffer = io.BytesIO()
    # No +faststart: moving the index to the front needs a second pass over a named file.
    # Players fetch a trailing index with a Range request.
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": settings.preset, "crf": str(settings.crf)}
        # Frame threads, as the ffmpeg command line uses: PyAV's default (slice threads) makes
        # x264 about 20% slower.
        stream.codec_context.thread_type = "AUTO"
        # Every stream exists before the first packet (the muxer writes its header then).
        sound_stream = _sound_stream(container, sound) if sound is not None else None
        for frame in _converted(frames):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if sound_stream is not None:
            container.mux(_sound_packets(sound_stream, sound, len(frames) / fps))
    return buffer.getvalue()


# Image formats a text-to-image request may ask for -> Pillow's name and save options.
_IMAGE_FORMATS = {"png": ("PNG", {}), "jpeg": ("JPEG", {"quality": 92}), "webp": ("WEBP", {"quality": 92})}


def encode_image(frame: np.ndarray, output_format: str) -> bytes:
    """One uint8 frame (height, width, 3) as a png, jpeg or webp file."""
    from PIL import Image

    try:
        name, options = _IMAGE_FORMATS[output_format]
    except KeyError:
        raise ValueError(f"output_format {output_format!r}: choose one of {', '.join(_IMAGE_FORMATS)}") from None
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format=name, **options)
    return buffer.getvalue()

"""The media helpers both sides use: data URLs and images decoded under a pixel cap."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from framecast.media.data_urls import data_url_bytes, to_data_url
from framecast.media.errors import MediaRefused
from framecast.media.images import normalize_image, open_image
from framecast.media.videos import frames_over, read_video


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(out, format="PNG")
    return out.getvalue()


def test_a_data_url_round_trips_and_its_refusals_say_why():
    data = png(8, 4)
    assert data_url_bytes(to_data_url(data, "image/png")) == data
    refusals = {
        "data:image/png,abc": "must be base64",
        "data:text/plain;base64," + base64.b64encode(b"x").decode(): "is not an image",
        "data:image/png;base64,@@@@": "not valid base64",
        to_data_url(data, "image/png"): "more than 10 bytes",
    }
    for value, reason in refusals.items():
        with pytest.raises(MediaRefused, match=reason):
            data_url_bytes(value, max_bytes=10)
    with pytest.raises(MediaRefused, match="is not a video"):
        data_url_bytes(to_data_url(data, "image/png"), media_type="video/")


def test_an_image_over_the_pixel_cap_is_refused_before_it_is_decoded():
    assert open_image(png(8, 4), max_pixels=32).size == (8, 4)
    with pytest.raises(MediaRefused, match="8x5, more than 32 pixels"):
        open_image(png(8, 5), max_pixels=32)
    normalized = normalize_image(png(8, 4))
    assert (normalized.width, normalized.height) == (8, 4) and normalized.png.startswith(b"\x89PNG")


def test_a_video_reads_back_as_its_frames_and_spreads_over_other_counts():
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p"
        for index in range(5):
            frame = av.VideoFrame.from_image(Image.new("RGB", (32, 16), (index * 60, 0, 0)))
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    decoded = read_video(out.getvalue())
    assert len(decoded.frames) == 5 and decoded.frames[0].size == (32, 16) and decoded.fps == 8
    with pytest.raises(MediaRefused, match="more than 4 frames"):
        read_video(out.getvalue(), max_frames=4)
    with pytest.raises(MediaRefused, match="more than 100 pixels"):
        read_video(out.getvalue(), max_pixels=100)
    with pytest.raises(MediaRefused, match="not a video"):
        read_video(b"not a video")
    frames = list("abcde")
    assert frames_over(frames, 5) == frames
    assert frames_over(frames, 3) == ["a", "c", "e"]
    assert frames_over(frames, 9) == ["a", "b", "b", "c", "c", "d", "d", "e", "e"]
    assert frames_over(frames, 1) == ["a"]

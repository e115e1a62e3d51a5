"""MP4 encoding (real x264 through PyAV) and fsspec storage."""

from __future__ import annotations

import fsspec
import numpy as np
import pytest

from framecast.components.encoding import EncoderSettings, SoundTrack, _yuv420p, encode_mp4
from framecast.components.storage import OutputStore, safe_object_name
from framecast.testing.stack import decode_mp4


def smooth_frames(count: int, height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    frames = [np.stack([(x + 4 * t) % 256, (y + 2 * t) % 256, np.full_like(x, 128)], axis=-1) for t in range(count)]
    return np.asarray(frames, dtype=np.uint8)


@pytest.mark.parametrize(("count", "height", "width", "fps"), [(9, 64, 64, 8), (17, 48, 80, 24), (1, 16, 16, 1)])
def test_encoded_mp4_decodes_to_the_same_shape_and_rate(count, height, width, fps):
    frames = smooth_frames(count, height, width)
    video = decode_mp4(encode_mp4(frames, fps))
    assert (video.count, video.height, video.width, video.fps) == (count, height, width, fps)
    assert (video.codec, video.pix_fmt) == ("h264", "yuv420p")
    # Lossy, but close to the source on smooth content.
    assert np.abs(video.frames.astype(int) - frames.astype(int)).mean() < 8


def test_preset_changes_the_encoding():
    frames = smooth_frames(9, 64, 64)
    assert encode_mp4(frames, 8, EncoderSettings(preset="ultrafast")) != encode_mp4(frames, 8, EncoderSettings(preset="slow"))


def test_crf_zero_decodes_to_exactly_the_frames_given():
    # Tests that compare the videos of separate requests rely on this (LOSSLESS_VIDEO).
    frames = np.random.default_rng(3).integers(0, 256, (9, 64, 64, 3), dtype=np.uint8)
    # The frames as the encoder's own conversion to yuv420p leaves them.
    expected = np.stack([_yuv420p(frame).to_ndarray(format="rgb24") for frame in frames])
    assert np.array_equal(decode_mp4(encode_mp4(frames, 8, EncoderSettings(crf=0))).frames, expected)
    assert not np.array_equal(decode_mp4(encode_mp4(frames, 8)).frames, expected)


@pytest.mark.parametrize("shape", [(9, 64, 64), (9, 63, 64, 3), (9, 64, 64, 4)])
def test_frames_of_the_wrong_shape_are_refused(shape):
    with pytest.raises(ValueError):
        encode_mp4(np.zeros(shape, dtype=np.uint8), 8)


@pytest.mark.parametrize(("channels", "count", "fps", "stretch"), [(2, 9, 25, 0.9), (1, 17, 8, 1.0), (2, 121, 24, 1.05)])
def test_a_sound_track_is_muxed_as_aac_as_long_as_the_video(channels, count, fps, stretch):
    """A model's sound is a few milliseconds off the video's length; the file's tracks end together."""
    rate = 16000
    # A 440 Hz tone at half scale (AAC keeps a tone's level; noise it does not).
    time_s = np.arange(round(count / fps * rate * stretch)) / rate
    samples = np.tile(0.5 * np.sin(2 * np.pi * 440 * time_s), (channels, 1)).astype(np.float32)
    frames = np.random.default_rng(1).integers(0, 256, (count, 32, 48, 3), dtype=np.uint8)
    video = decode_mp4(encode_mp4(frames, fps, EncoderSettings(preset="ultrafast"), SoundTrack(samples, rate)))
    assert video.count == count and video.audio_seconds == pytest.approx(count / fps, abs=1e-3)
    assert video.audio_peak == pytest.approx(0.5, abs=0.1)


def test_a_video_without_sound_has_no_audio_track():
    frames = np.zeros((5, 16, 16, 3), dtype=np.uint8)
    assert decode_mp4(encode_mp4(frames, 8)).audio_seconds is None


def test_sound_of_more_than_two_channels_is_refused():
    with pytest.raises(ValueError, match="1 or 2 channels"):
        encode_mp4(np.zeros((5, 16, 16, 3), dtype=np.uint8), 8, sound=SoundTrack(np.zeros((6, 1000), np.float32), 16000))


def test_local_store_writes_whole_files_and_returns_their_url(tmp_path):
    store = OutputStore((tmp_path / "videos").as_uri())
    url = store.put("video_1.mp4", b"data")
    assert url == (tmp_path / "videos" / "video_1.mp4").as_uri()
    assert (tmp_path / "videos" / "video_1.mp4").read_bytes() == b"data"
    assert [path.name for path in (tmp_path / "videos").iterdir()] == ["video_1.mp4"]


def test_memory_store_takes_any_fsspec_url():
    store = OutputStore("memory://framecast-test")
    url = store.put("a.mp4", b"xyz")
    assert url.startswith("memory://") and url.endswith("/framecast-test/a.mp4")
    with fsspec.open(url, "rb") as stored:
        assert stored.read() == b"xyz"


@pytest.mark.parametrize("candidate", ["../etc/passwd", "a/b", "", None, ".hidden", "x" * 200, "video..mp4"])
def test_unsafe_names_never_reach_a_storage_path(candidate):
    name = safe_object_name(candidate, ".mp4")
    assert "/" not in name and ".." not in name and not name.startswith(".")
    assert name.endswith(".mp4") and len(name) == 36


def test_safe_ids_are_kept():
    assert safe_object_name("video_0123abc", ".mp4") == "video_0123abc.mp4"

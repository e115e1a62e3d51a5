"""c. Encoding: 81 frames at 832x480, smooth and noise, through framecast's encoder (PyAV, in
memory) and through the ffmpeg command line (the binary imageio-ffmpeg bundles) with the same
codec, preset, rate factor and pixel format, fed the same raw frames on stdin."""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from harness import Row

from framecast.components.backends.synthetic_backend import synthetic_frames
from framecast.components.encoding import EncoderSettings, encode_mp4

FRAMES, HEIGHT, WIDTH, FPS = 81, 480, 832, 16


def ffmpeg_encode(frames: np.ndarray, fps: int, settings: EncoderSettings, output: Path) -> None:
    count, height, width, _ = frames.shape
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
        "-c:v", "libx264", "-preset", settings.preset, "-crf", str(settings.crf), "-pix_fmt", "yuv420p",
        str(output),
    ]  # fmt: skip
    subprocess.run(command, input=frames.tobytes(), check=True)


def _timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def run(workdir: Path, presets=("ultrafast", "medium"), repeats: int = 3) -> list[Row]:
    rows = []
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        output = Path(scratch) / "ffmpeg.mp4"
        for content in ("smooth", "noise"):
            frames = synthetic_frames(FRAMES, HEIGHT, WIDTH, content, seed=7)
            for preset in presets:
                settings = EncoderSettings(preset=preset)
                ours, theirs = [], []
                for _ in range(repeats):  # alternated, so a slower spell of the machine hits both
                    seconds, video = _timed(lambda frames=frames, settings=settings: encode_mp4(frames, FPS, settings))
                    ours.append(seconds)
                    theirs.append(_timed(lambda frames=frames, settings=settings: ffmpeg_encode(frames, FPS, settings, output))[0])
                ratio = statistics.median(ours) / statistics.median(theirs)
                for name, times, size in (("framecast", ours, len(video)), ("ffmpeg CLI", theirs, output.stat().st_size)):
                    rows.append(Row(
                        "c", f"{content} {preset} {name}", f"{statistics.median(times):.2f} s", f"{max(times):.2f} s",
                        f"{size / 2**20:.1f} MiB; {repeats} run(s)",
                    ))  # fmt: skip
                rows.append(Row("c", f"{content} {preset} framecast / ffmpeg", ratio=f"{ratio:.2f}x", target="<= 1.1x", met=ratio <= 1.1))
    return rows

"""synthetic backend: no model, no compute. It makes frames of the requested size and count
(smooth moving gradients, or noise, the encoder's worst case) and can hold a simulated GPU for
a fixed time per video. It measures everything around generation: serving overhead, queueing,
encoding, storage, payload handling, scaling.

    framecast-worker --backend synthetic --model-path synthetic --synthetic-content noise
"""

from __future__ import annotations

import time

import numpy as np

from framecast.components.backends import BackendOptions, GeneratedVideo, ProgressCallback
from framecast.components.encoding import EncoderSettings, encode_mp4
from framecast.components.registry import GenerationParams, Limits
from framecast.protocol import Stage

def synthetic_frames(count: int, height: int, width: int, content: str, seed: int) -> np.ndarray:
    if content == "noise":
        return np.random.default_rng(seed).integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)
    y, x = np.mgrid[0:height, 0:width]
    frames = np.empty((count, height, width, 3), dtype=np.uint8)
    for index in range(count):
        frames[index, ..., 0] = (x + 3 * index + seed) % 256
        frames[index, ..., 1] = (y + 2 * index) % 256
        frames[index, ..., 2] = ((x + y) // 2 + index) % 256
    return frames


class SyntheticBackend:
    name = "synthetic"
    takes_adapters = True
    takes_video = False

    def __init__(self, options: BackendOptions):
        options.refuse_others(self.name)
        if options.model.compile:
            raise ValueError("--compile is not an option of the synthetic backend: it has no model")
        if options.model.cache != "none":
            raise ValueError("--cache is not an option of the synthetic backend: it has no model")
        self.content = options.synthetic.synthetic_content or "smooth"
        if self.content not in ("smooth", "noise"):
            raise ValueError(f"--synthetic-content {self.content!r}: choose smooth or noise")
        self.busy_s = options.synthetic.synthetic_busy_s or 0.0
        self.stored_clip = bool(options.synthetic.synthetic_stored_clip)
        self._stored: tuple[tuple, np.ndarray, bytes | None] | None = None
        # Adapters have no weights here: loading one only takes the simulated time.
        self.adapter_load_s = options.synthetic.synthetic_adapter_load_s or 0.0
        self.adapters: set[str] = set()

    def limits(self, declared: Limits) -> Limits:
        # Frames are drawn, not denoised: the registry's limits are the only ones.
        return declared

    def describe(self) -> dict:
        return {
            "device": "none", "content": self.content, "busy_s_per_video": self.busy_s,
            "stored_clip": self.stored_clip, "parallel": {"tp": 1},
        }  # fmt: skip

    def generate(self, params: GenerationParams, on_progress: ProgressCallback) -> GeneratedVideo:
        started = time.perf_counter()
        total = params.num_inference_steps
        on_progress(Stage.DENOISING, 0, total)
        for step in range(1, total + 1):
            # The simulated GPU time, spread over the steps so cancellation works as on a GPU.
            time.sleep(self.busy_s / total)
            on_progress(Stage.DENOISING, step, total)
        on_progress(Stage.DECODING, None, None)
        frames, encoded = self._clip(params)
        return GeneratedVideo(frames, time.perf_counter() - started, encoded)

    def _clip(self, params: GenerationParams) -> tuple[np.ndarray, bytes | None]:
        """The clip of the last request, kept (and its MP4, with --synthetic-stored-clip): a
        repeated request costs no compute."""
        key = (params.num_frames, params.height, params.width, params.seed, params.fps)
        if self._stored is None or self._stored[0] != key:
            frames = synthetic_frames(params.num_frames, params.height, params.width, self.content, params.seed)
            encoded = encode_mp4(frames, params.fps, EncoderSettings(preset="ultrafast")) if self.stored_clip else None
            self._stored = (key, frames, encoded)
        return self._stored[1], self._stored[2]

    def load_adapter(self, name: str, source: str) -> None:
        time.sleep(self.adapter_load_s)
        self.adapters.add(name)

    def unload_adapter(self, name: str) -> None:
        self.adapters.discard(name)

    def close(self) -> None:
        pass


def create_backend(options: BackendOptions) -> SyntheticBackend:
    return SyntheticBackend(options)

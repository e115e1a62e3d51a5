"""Backends: one module each, behind the small interface below, imported only when chosen."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from framecast.components.backends.options import BackendOptions
from framecast.components.encoding import SoundTrack
from framecast.components.registry import GenerationParams, Limits
from framecast.protocol import Stage

# Module of each backend; imported lazily so a worker never loads what it does not run.
BACKEND_MODULES = {
    "diffusers": "framecast.components.backends.diffusers_backend",
    "sglang": "framecast.components.backends.sglang_backend",
    "synthetic": "framecast.components.backends.synthetic_backend",
}

# Called at stage changes and after every denoising step: (stage, step, total_steps).
# It may raise GenerationCancelled to stop the work.
ProgressCallback = Callable[[Stage, int | None, int | None], None]


class GenerationCancelled(Exception):
    """Raised through a backend to abandon a generation (the client went away)."""


class GenerationFailed(RuntimeError):
    """A backend could not produce the video; the message says why."""


@dataclass
class GeneratedVideo:
    frames: np.ndarray  # uint8, (frames, height, width, 3)
    # Time the backend itself measured, when it has a better clock than the caller.
    inference_time_s: float | None = None
    # The video already encoded as MP4 by the backend (the worker then stores it as it is).
    encoded: bytes | None = None
    # Transformer blocks run for it, where the backend counts them (a step cache runs fewer).
    block_evaluations: int | None = None
    # The sound the model made with the video (LTX-2), when the request wants it.
    sound: SoundTrack | None = None


class VideoBackend(Protocol):
    name: str
    # Whether load_adapter can work here (the worker refuses --lora at start otherwise).
    takes_adapters: bool
    # Whether generate takes params.video (a remix: video-to-video); the worker offers v2v only then.
    takes_video: bool

    def limits(self, declared: Limits) -> Limits:
        """The registry's limits for the model, narrowed to what the loaded pipeline can run (the
        request check uses these)."""
        ...

    def describe(self) -> dict:
        """The effective settings (device, dtype, parallelism, offload) for /v1/runtime."""
        ...

    def generate(self, params: GenerationParams, on_progress: ProgressCallback) -> GeneratedVideo:
        """Run one generation with params.adapters applied (loaded before, by load_adapter);
        blocking (the worker calls it from a thread, one at a time)."""
        ...

    def load_adapter(self, name: str, source: str) -> None:
        """Load a LoRA adapter under this name (a local path or a hub file), not yet applied."""
        ...

    def unload_adapter(self, name: str) -> None: ...

    def close(self) -> None: ...


def load_backend(name: str, options: BackendOptions) -> VideoBackend:
    try:
        module_name = BACKEND_MODULES[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(BACKEND_MODULES)}") from None
    module = importlib.import_module(module_name)
    return module.create_backend(options)

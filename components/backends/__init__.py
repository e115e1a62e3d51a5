"""Backends: one module each, behind the small interface below, imported only when chosen."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from framecast.components.registry import GenerationParams, ModelSpec

# Module of each backend; imported lazily so a worker never loads what it does not run.
BACKEND_MODULES = {
    "diffusers": "framecast.components.backends.diffusers_backend",
    "sglang": "framecast.components.backends.sglang_backend",
    "synthetic": "framecast.components.backends.synthetic_backend",
}

# Called at stage changes and after every denoising step: (stage, step, total_steps).
# It may raise GenerationCancelled to stop the work.
ProgressCallback = Callable[[str, int | None, int | None], None]


class GenerationCancelled(Exception):
    """Raised through a backend to abandon a generation (the client went away)."""


class GenerationFailed(RuntimeError):
    """A backend could not produce the video; the message says why."""


@dataclass(frozen=True)
class BackendOptions:
    """Every backend option of the worker's command line; None means "not set".

    A backend refuses an option it cannot honour rather than ignoring it.
    """

    model_path: str
    spec: ModelSpec
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto (the spec's) | float32 | bfloat16 | float16
    flow_shift: float | None = None  # None: the spec's
    # Parallelism (sglang).
    num_gpus: int | None = None
    tp: int | None = None
    sp: int | None = None
    ulysses_degree: int | None = None
    ring_degree: int | None = None
    cfg_parallel: bool | None = None
    # Memory (sglang).
    dit_cpu_offload: bool | None = None
    text_encoder_cpu_offload: bool | None = None
    vae_cpu_offload: bool | None = None
    dit_layerwise_offload: bool | None = None
    attention_backend: str | None = None
    sglang_pipeline: str | None = None  # auto | sglang | diffusers
    # Memory and speed (diffusers).
    vae_slicing: bool | None = None
    vae_tiling: bool | None = None
    cpu_offload: str | None = None  # none | model | sequential
    compile: bool | None = None
    # synthetic backend (no model): frame content, and simulated GPU seconds per video.
    synthetic_content: str | None = None
    synthetic_busy_s: float | None = None
    synthetic_stored_clip: bool | None = None

    def refuse_unsupported(self, backend: str, supported: set[str]) -> None:
        """Raise if an option this backend cannot honour was set."""
        always = {"model_path", "spec", "device", "dtype", "flow_shift"}
        for field in dataclasses.fields(self):
            if field.name in always or field.name in supported:
                continue
            value = getattr(self, field.name)
            if value is not None and value is not False and not (field.name in ("tp", "num_gpus") and value == 1):
                flag = "--" + field.name.replace("_", "-")
                raise ValueError(f"{flag} is not an option of the {backend} backend")

    @property
    def flow_shift_or_default(self) -> float | None:
        return self.flow_shift if self.flow_shift is not None else self.spec.defaults.flow_shift


@dataclass
class GeneratedVideo:
    frames: np.ndarray  # uint8, (frames, height, width, 3)
    # Time the backend itself measured, when it has a better clock than the caller.
    inference_time_s: float | None = None
    # The video already encoded as MP4 by the backend (the worker then stores it as it is).
    encoded: bytes | None = None


class VideoBackend(Protocol):
    name: str

    def describe(self) -> dict:
        """The effective settings (device, dtype, parallelism, offload) for /v1/runtime."""
        ...

    def generate(self, params: GenerationParams, on_progress: ProgressCallback) -> GeneratedVideo:
        """Run one generation; blocking (the worker calls it from a thread)."""
        ...

    def close(self) -> None: ...


def load_backend(name: str, options: BackendOptions) -> VideoBackend:
    try:
        module_name = BACKEND_MODULES[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(BACKEND_MODULES)}") from None
    module = importlib.import_module(module_name)
    return module.create_backend(options)

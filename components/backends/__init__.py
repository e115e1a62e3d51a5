"""Backends: one module each, behind the small interface below, imported only when chosen."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from framecast.components.model_spec import GenerationParams

# Module of each backend; imported lazily so a worker never loads what it does not run.
BACKEND_MODULES = {
    "diffusers": "framecast.components.backends.diffusers_backend",
}

# Called from the generation thread at stage changes and after every denoising step:
# (stage, step, total_steps). It may raise GenerationCancelled to stop the work.
ProgressCallback = Callable[[str, int | None, int | None], None]


class GenerationCancelled(Exception):
    """Raised through a backend to abandon a generation (the client went away)."""


@dataclass(frozen=True)
class BackendOptions:
    model_path: str
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    tp: int = 1  # tensor-parallel degree


class VideoBackend(Protocol):
    name: str

    def generate(self, params: GenerationParams, on_progress: ProgressCallback) -> np.ndarray:
        """Run one generation; blocking. Returns uint8 frames shaped (frames, height, width, 3)."""
        ...


def load_backend(name: str, options: BackendOptions) -> VideoBackend:
    try:
        module_name = BACKEND_MODULES[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(BACKEND_MODULES)}") from None
    module = importlib.import_module(module_name)
    return module.create_backend(options)

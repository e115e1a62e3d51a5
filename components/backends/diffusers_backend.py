"""diffusers backend: any diffusers video pipeline (WanPipeline first), on CPU or GPU."""

from __future__ import annotations

import inspect
import logging

import numpy as np
import torch
from diffusers import DiffusionPipeline

from framecast.components.backends import BackendOptions, ProgressCallback
from framecast.components.model_spec import GenerationParams

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        # Half precision is slow or unsupported for these models on CPU.
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; choose auto or one of {sorted(_DTYPES)}") from None


class DiffusersBackend:
    name = "diffusers"

    def __init__(self, options: BackendOptions):
        if options.tp != 1:
            raise ValueError(
                f"--tp {options.tp}: the diffusers backend runs a model on one device; "
                "use --tp 1 (Wan2.1 14B needs about 40 GB at bf16) or a tensor-parallel backend"
            )
        self.device = _resolve_device(options.device)
        self.dtype = _resolve_dtype(options.dtype, self.device)
        log.info("loading %s on %s as %s", options.model_path, self.device, self.dtype)
        self.pipeline = DiffusionPipeline.from_pretrained(options.model_path, torch_dtype=self.dtype)
        if "num_frames" not in inspect.signature(self.pipeline.__call__).parameters:
            raise ValueError(f"{options.model_path} holds a {type(self.pipeline).__name__}, not a video pipeline")
        self.pipeline.to(self.device)
        self.pipeline.set_progress_bar_config(disable=True)

    def generate(self, params: GenerationParams, on_progress: ProgressCallback) -> np.ndarray:
        total = params.num_inference_steps

        def after_step(pipeline, step: int, timestep, tensors: dict) -> dict:
            on_progress("denoising", step + 1, total)
            if step + 1 == total:
                on_progress("decoding", None, None)
            return {}

        extra = {}
        if params.guidance_scale_2 is not None:
            extra["guidance_scale_2"] = params.guidance_scale_2
        on_progress("text_encoding", None, None)
        # A CPU generator gives the same noise for a seed whatever the device.
        generator = torch.Generator("cpu").manual_seed(params.seed)
        with torch.inference_mode():
            output = self.pipeline(
                prompt=params.prompt,
                negative_prompt=params.negative_prompt,
                height=params.height,
                width=params.width,
                num_frames=params.num_frames,
                num_inference_steps=params.num_inference_steps,
                guidance_scale=params.guidance_scale,
                generator=generator,
                output_type="np",
                callback_on_step_end=after_step,
                **extra,
            )
        frames = np.asarray(output.frames[0])
        return (frames * 255.0).round().clip(0, 255).astype(np.uint8)


def create_backend(options: BackendOptions) -> DiffusersBackend:
    return DiffusersBackend(options)
